// Builds the standard bert-base-(un)cased tokenizer.json layout over a vocab.txt:
// BertNormalizer, BertPreTokenizer, WordPiece, TemplateProcessing, and the five
// special tokens as added tokens (normalized:false), exactly as Hugging Face
// saves bert-base-uncased/tokenizer.json.
'use strict';
const fs = require('fs');
function buildTokenizerJson(vocabPath, lowercase) {
  const lines = fs.readFileSync(vocabPath, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab = {};
  lines.forEach((t, i) => { vocab[t] = i; });
  const sp = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const added = sp.map((t) => ({ id: vocab[t], content: t, single_word: false, lstrip: false, rstrip: false,
    normalized: false, special: true }));
  const cls = vocab['[CLS]'], sep = vocab['[SEP]'];
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
      strip_accents: lowercase ? null : false, lowercase: lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
      max_input_chars_per_word: 100, vocab: vocab },
  };
}
module.exports = { buildTokenizerJson };
