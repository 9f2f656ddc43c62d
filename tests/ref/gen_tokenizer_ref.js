// Reference ids from Hugging Face tokenizers (Rust, via @anush008/tokenizers,
// which embeds tokenizers 0.22.x) for the C tokenizer's tests.
//   node tests/ref/gen_tokenizer_ref.js          (from the repository root)
// Writes
//   tests/fixtures/vocab/bert-base-uncased/tokenizer.json   standard layout, uncased
//   tests/fixtures/vocab/bert-cased-config/tokenizer.json   same vocab, lowercase=false,
//                                                           strip_accents=false (no real cased
//                                                           vocab ships in npm)
//   tests/fixtures/tok/ids_<cfg>_<special|plain>.jsonl      {"id", "input_ids"} per corpus line
//   tests/fixtures/tok/invalid_utf8.jsonl                   byte strings (hex) that are not
//                                                           UTF-8: the decoded text (WHATWG /
//                                                           Rust from_utf8_lossy: one U+FFFD per
//                                                           maximal subpart) and its ids
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('./node_modules/@anush008/tokenizers');
const { buildTokenizerJson } = require('./tokjson.js');

const root = path.resolve(__dirname, '..', '..');
const fx = (p) => path.join(root, 'tests', 'fixtures', p);
const vocab = fx('vocab/bert-base-uncased/vocab.txt');

const configs = [
  { name: 'uncased', dir: 'vocab/bert-base-uncased', lowercase: true },
  { name: 'cased', dir: 'vocab/bert-cased-config', lowercase: false },
];

const INVALID = [
  'c3', 'ff', 'fe', 'c0af', 'c080', 'e080af', 'eda080', 'edbfbf', 'f4908080', 'f8888080af',
  '80', 'bf', '8080', '616263c3', 'e282', 'f09f98', 'f09f9880',
  // Unicode 16 §3.9 table 3-8 example: a FFFD FFFD FFFD b FFFD c FFFD FFFD d
  '61f18080e180c26280638 0bf64'.replace(/ /g, ''),
  '48656c6c6fff20776f726c64', // "Hello\xff world"
  '636166c3a920c3a9c3a9', // valid: "café éé"
  '5b434c535d20e280ff5b5345505d', // [CLS] <broken> [SEP]
  '7072e9636973', // latin-1 "précis"
  'efbfbd2078efbfbd', // literal U+FFFD (valid): not counted
  'e4b8ade69687e4b8', // CJK then a truncated ideograph
];

async function main() {
  const corpus = fs.readFileSync(fx('tok/corpus.jsonl'), 'utf8').split('\n').filter((l) => l.length)
    .map((l) => JSON.parse(l));
  for (const cfg of configs) {
    const tj = buildTokenizerJson(vocab, cfg.lowercase);
    fs.mkdirSync(fx(cfg.dir), { recursive: true });
    fs.writeFileSync(fx(cfg.dir + '/tokenizer.json'), JSON.stringify(tj) + '\n');
    const tok = Tokenizer.fromFile(fx(cfg.dir + '/tokenizer.json'));
    for (const special of [true, false]) {
      const lines = [];
      for (const d of corpus) {
        const e = await tok.encode(d.text, null, { addSpecialTokens: special });
        lines.push(JSON.stringify({ id: d.id, input_ids: e.getIds() }));
      }
      const out = fx(`tok/ids_${cfg.name}_${special ? 'special' : 'plain'}.jsonl`);
      fs.writeFileSync(out, lines.join('\n') + '\n');
      console.error(`${out}: ${lines.length} documents`);
    }
  }
  const toks = configs.map((c) => Tokenizer.fromFile(fx(c.dir + '/tokenizer.json')));
  const lines = [];
  for (const [i, hex] of INVALID.entries()) {
    const buf = Buffer.from(hex, 'hex');
    const text = buf.toString('utf8'); // WHATWG decoder: U+FFFD per maximal subpart
    const literal = (hex.match(/efbfbd/g) || []).length;
    const nInvalid = [...text].filter((c) => c === '\ufffd').length - literal;
    const rec = { id: i, hex, n_invalid: nInvalid };
    for (const [k, c] of configs.entries()) {
      rec[c.name] = (await toks[k].encode(text, null, { addSpecialTokens: true })).getIds();
    }
    lines.push(JSON.stringify(rec));
  }
  fs.writeFileSync(fx('tok/invalid_utf8.jsonl'), lines.join('\n') + '\n');
  console.error(`${fx('tok/invalid_utf8.jsonl')}: ${lines.length} byte strings`);
}
main().catch((e) => { console.error(e); process.exit(1); });
