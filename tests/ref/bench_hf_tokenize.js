// Hugging Face tokenizers (Rust, via @anush008/tokenizers) throughput on one
// thread, for launch/bench_tokenize.sh. Loads the JSONL corpus into memory,
// then times encodeBatch over chunks of 1000 texts (the fastest way through
// the binding; run with RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false so
// the batch is not spread over cores), best of R rounds.
//   node bench_hf_tokenize.js tokenizer.json corpus.jsonl [rounds] [--no-special]
'use strict';
const fs = require('fs');
const readline = require('readline');
const { Tokenizer } = require('./node_modules/@anush008/tokenizers');
async function main() {
  const [tjson, corpus, roundsArg] = process.argv.slice(2);
  const rounds = roundsArg && !roundsArg.startsWith('-') ? +roundsArg : 3;
  const special = !process.argv.includes('--no-special');
  const tok = Tokenizer.fromFile(tjson);
  const texts = [];
  let bytes = 0;
  const rl = readline.createInterface({ input: fs.createReadStream(corpus), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line) continue;
    const t = JSON.parse(line).text;
    if (typeof t !== 'string') continue;
    texts.push(t);
    bytes += Buffer.byteLength(t, 'utf8');
  }
  let best = Infinity, nIds = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    nIds = 0;
    for (let i = 0; i < texts.length; i += 1000) {
      const enc = await tok.encodeBatch(texts.slice(i, i + 1000), { addSpecialTokens: special });
      for (const e of enc) nIds += e.getLength();
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt < best) best = dt;
  }
  console.log(`hf_tokenizers bytes=${bytes} docs=${texts.length} ids=${nIds} seconds=${best.toFixed(3)} MBps=${(bytes / best / 1e6).toFixed(2)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
