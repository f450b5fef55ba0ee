// Renders the bundled model folder (ONNX graph, tokenizer.json, tokenizer_config.json,
// config.json) from an embedding table. Everything is built as strings/bytes in a fixed
// order, so the same table always gives the same files.
import { createHash } from 'node:crypto';
import { DataType, encodeOnnxModel, float32Bytes, int64Bytes, type OnnxNode, type OnnxTensor } from './onnx-writer.js';
import { SPECIAL_TOKENS, type EmbeddingTable, type TableOptions } from './glove-table.js';

/** Longest input in tokens; a static model has no position limit, this only bounds padding. */
export const MODEL_MAX_LENGTH = 8192;
/** ONNX opset: supported by onnxruntime-node 1.14 (transformers.js 2.17.2). */
export const OPSET = 13;
/** ONNX IR version matching opset 13. */
export const IR_VERSION = 7;
/** Where the graph goes: transformers.js loads `onnx/model_quantized.onnx` by default. */
export const ONNX_FILE = 'onnx/model_quantized.onnx';

/** Build facts recorded in config.json. */
export interface BuildInfo {
  readonly name: string;
  readonly source: string;
  readonly options: TableOptions;
}

/** tokenizer.json text: BertNormalizer + BertPreTokenizer + WordPiece vocabulary (no `##` pieces). */
export function renderTokenizerJson(words: readonly string[]): string {
  const added = SPECIAL_TOKENS.map(
    (content, id) => `{"id":${id},"content":${JSON.stringify(content)},"single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}`,
  );
  const vocab: string[] = SPECIAL_TOKENS.map((t, id) => `${JSON.stringify(t)}:${id}`);
  words.forEach((w, i) => vocab.push(`${JSON.stringify(w)}:${SPECIAL_TOKENS.length + i}`));
  return (
    '{"version":"1.0","truncation":null,"padding":null,' +
    `"added_tokens":[${added.join(',')}],` +
    '"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},' +
    '"pre_tokenizer":{"type":"BertPreTokenizer"},' +
    '"post_processor":{"type":"BertProcessing","sep":["[SEP]",3],"cls":["[CLS]",2]},' +
    '"decoder":{"type":"WordPiece","prefix":"##","cleanup":true},' +
    '"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,' +
    `"vocab":{${vocab.join(',')}}}}\n`
  );
}

/** tokenizer_config.json text (no tokenizer_class: the base class adds no token_type_ids). */
export function renderTokenizerConfig(): string {
  return `${JSON.stringify(
    {
      do_lower_case: true,
      model_max_length: MODEL_MAX_LENGTH,
      unk_token: '[UNK]',
      pad_token: '[PAD]',
      cls_token: '[CLS]',
      sep_token: '[SEP]',
      mask_token: '[MASK]',
      clean_up_tokenization_spaces: true,
    },
    null,
    2,
  )}\n`;
}

/** config.json text: a BERT-typed config so AutoModel picks an encoder-only class. */
export function renderConfig(table: EmbeddingTable, info: BuildInfo): string {
  return `${JSON.stringify(
    {
      model_type: 'bert',
      architectures: ['BertModel'],
      hidden_size: table.dim,
      vocab_size: table.rows,
      max_position_embeddings: MODEL_MAX_LENGTH,
      pad_token_id: 0,
      writ: {
        name: info.name,
        kind: 'static word embeddings (SIF-weighted GloVe), pooled and normalized in the graph',
        source: info.source,
        vocabulary_words: table.rows - SPECIAL_TOKENS.length,
        sif_a: info.options.sifA,
        common_component_removed: info.options.removeCommonComponent,
        weight_bits: info.options.bits,
        attention_mask: 'token weight',
        outputs: { sentence_embedding: '[batch, dim], L2-normalized weighted sum; zero row when no token is known', last_hidden_state: '[batch, tokens, dim], weighted token vectors (mask applied)' },
      },
    },
    null,
    2,
  )}\n`;
}

function float32Of(values: readonly number[]): Uint8Array {
  return float32Bytes(Float32Array.from(values));
}

/**
 * The graph: Gather the (quantized) rows of input_ids, dequantize, multiply by the attention
 * mask → `last_hidden_state` [B,T,D]; sum over T, divide by max(‖sum‖, 1e-12) →
 * `sentence_embedding` [B,D] (a zero sum stays zero, never NaN).
 */
export function renderOnnx(table: EmbeddingTable, info: BuildInfo): Uint8Array {
  const { rows, dim } = table;
  const q = table.quantized;
  const init: OnnxTensor[] = [];
  const nodes: OnnxNode[] = [];
  const node = (opType: string, inputs: string[], outputs: string[], attributes?: OnnxNode['attributes']): void => {
    nodes.push({ opType, inputs, outputs, name: `${opType.toLowerCase()}_${nodes.length}`, ...(attributes ? { attributes } : {}) });
  };
  init.push({ name: 'axis_tokens', dataType: DataType.INT64, dims: [1], raw: int64Bytes([1]) });
  init.push({ name: 'axis_last', dataType: DataType.INT64, dims: [1], raw: int64Bytes([2]) });
  init.push({ name: 'norm_floor', dataType: DataType.FLOAT, dims: [], raw: float32Of([1e-12]) });

  node('Cast', ['attention_mask'], ['mask_f'], [{ name: 'to', int: DataType.FLOAT }]);
  node('Unsqueeze', ['mask_f', 'axis_last'], ['mask_3d']);
  if (q.kind === 'float32') {
    init.push({ name: 'embeddings', dataType: DataType.FLOAT, dims: [rows, dim], raw: float32Bytes(q.data) });
    node('Gather', ['embeddings', 'input_ids'], ['token_vectors'], [{ name: 'axis', int: 0 }]);
  } else if (q.kind === 'int8') {
    init.push({ name: 'embeddings_int8', dataType: DataType.INT8, dims: [rows, dim], raw: new Uint8Array(q.codes.buffer, q.codes.byteOffset, q.codes.byteLength) });
    init.push({ name: 'row_scales', dataType: DataType.FLOAT, dims: [rows, 1], raw: float32Bytes(q.scales) });
    node('Gather', ['embeddings_int8', 'input_ids'], ['codes'], [{ name: 'axis', int: 0 }]);
    node('Cast', ['codes'], ['codes_f'], [{ name: 'to', int: DataType.FLOAT }]);
  } else {
    // 4-bit: gather the packed bytes, decode each byte through a [256, 2] table into its two
    // dimensions (q − 7.5), then scale per row.
    const lut = new Float32Array(256 * 2);
    for (let b = 0; b < 256; b++) {
      lut[b * 2] = (b & 15) - 7.5;
      lut[b * 2 + 1] = (b >> 4) - 7.5;
    }
    init.push({ name: 'embeddings_int4', dataType: DataType.UINT8, dims: [rows, dim / 2], raw: q.packed });
    init.push({ name: 'row_scales', dataType: DataType.FLOAT, dims: [rows, 1], raw: float32Bytes(q.scales) });
    init.push({ name: 'nibble_table', dataType: DataType.FLOAT, dims: [256, 2], raw: float32Bytes(lut) });
    init.push({ name: 'table_shape', dataType: DataType.INT64, dims: [2], raw: int64Bytes([rows, dim]) });
    // These nodes read only initializers, so onnxruntime folds them into one float table when
    // the session is created; each run is then a plain Gather.
    node('Cast', ['embeddings_int4'], ['table_bytes'], [{ name: 'to', int: DataType.INT32 }]);
    node('Gather', ['nibble_table', 'table_bytes'], ['table_pairs'], [{ name: 'axis', int: 0 }]);
    node('Reshape', ['table_pairs', 'table_shape'], ['table_codes']);
    node('Mul', ['table_codes', 'row_scales'], ['embeddings']);
    node('Gather', ['embeddings', 'input_ids'], ['token_vectors'], [{ name: 'axis', int: 0 }]);
  }
  if (q.kind !== 'int8') {
    node('Mul', ['token_vectors', 'mask_3d'], ['last_hidden_state']);
  } else {
    // Per-row scale times mask first ([B,T,1], cheap), then one multiply over [B,T,D].
    node('Gather', ['row_scales', 'input_ids'], ['scales'], [{ name: 'axis', int: 0 }]);
    node('Mul', ['scales', 'mask_3d'], ['scales_masked']);
    node('Mul', ['codes_f', 'scales_masked'], ['last_hidden_state']);
  }
  node('ReduceSum', ['last_hidden_state', 'axis_tokens'], ['pooled'], [{ name: 'keepdims', int: 0 }]);
  node('Mul', ['pooled', 'pooled'], ['pooled_sq']);
  node('ReduceSum', ['pooled_sq', 'axis_tokens'], ['norm_sq'], [{ name: 'keepdims', int: 1 }]);
  node('Sqrt', ['norm_sq'], ['norm']);
  node('Max', ['norm', 'norm_floor'], ['norm_safe']);
  node('Div', ['pooled', 'norm_safe'], ['sentence_embedding']);

  return encodeOnnxModel({
    irVersion: IR_VERSION,
    opset: OPSET,
    producerName: 'writ scripts/build-model.ts',
    producerVersion: '1',
    docString: `${info.name}: SIF-weighted GloVe 100d (${info.source}), mean-pooled and L2-normalized in the graph`,
    graphName: info.name,
    nodes,
    initializers: init,
    inputs: [
      { name: 'input_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
    ],
    outputs: [
      { name: 'sentence_embedding', dataType: DataType.FLOAT, shape: ['batch_size', dim] },
      { name: 'last_hidden_state', dataType: DataType.FLOAT, shape: ['batch_size', 'sequence_length', dim] },
    ],
  });
}

/** All files of the model folder, by relative path, CHECKSUMS included (sha256sum format). */
export function renderModelFiles(table: EmbeddingTable, words: readonly string[], info: BuildInfo): Map<string, Uint8Array> {
  const enc = new TextEncoder();
  const files = new Map<string, Uint8Array>();
  files.set('config.json', enc.encode(renderConfig(table, info)));
  files.set(ONNX_FILE, renderOnnx(table, info));
  files.set('tokenizer.json', enc.encode(renderTokenizerJson(words.slice(0, table.rows - SPECIAL_TOKENS.length))));
  files.set('tokenizer_config.json', enc.encode(renderTokenizerConfig()));
  const sums = [...files.keys()]
    .sort()
    .map((p) => `${createHash('sha256').update(files.get(p)!).digest('hex')}  ${p}\n`)
    .join('');
  files.set('CHECKSUMS', enc.encode(sums));
  return files;
}
