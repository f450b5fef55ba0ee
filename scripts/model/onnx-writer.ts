// A minimal, dependency-free ONNX (protobuf) writer: just the messages a small inference graph
// needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
// Field numbers follow onnx/onnx.proto3. Output bytes depend only on the input, so builds
// are reproducible.

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** An initializer: raw little-endian bytes of the given type and shape. */
export interface OnnxTensor {
  readonly name: string;
  readonly dataType: DataTypeCode;
  readonly dims: readonly number[];
  readonly raw: Uint8Array;
}

/** An attribute value: int, float, string, list of ints, or a tensor. */
export type OnnxAttribute =
  | { readonly name: string; readonly int: number }
  | { readonly name: string; readonly float: number }
  | { readonly name: string; readonly string: string }
  | { readonly name: string; readonly ints: readonly number[] };

/** One graph node. */
export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  readonly attributes?: readonly OnnxAttribute[];
}

/** A graph input or output: element type and shape (a string is a symbolic dimension). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly dataType: DataTypeCode;
  readonly shape: ReadonlyArray<number | string>;
}

/** A whole model. */
export interface OnnxModel {
  readonly irVersion: number;
  readonly opset: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString: string;
  readonly graphName: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly metadata?: ReadonlyArray<readonly [string, string]>;
}

// --- protobuf wire format -------------------------------------------------------------------

class Writer {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, 2);
    this.varint(value.length);
    this.push(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

function writeTensor(w: Writer, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, t.dataType); // data_type
  w.string(8, t.name); // name
  w.bytes(9, t.raw); // raw_data
}

function writeAttribute(w: Writer, a: OnnxAttribute): void {
  w.string(1, a.name);
  if ('int' in a) {
    w.int(3, a.int);
    w.int(20, 2); // INT
  } else if ('float' in a) {
    w.float(2, a.float);
    w.int(20, 1); // FLOAT
  } else if ('string' in a) {
    w.string(4, a.string);
    w.int(20, 3); // STRING
  } else {
    for (const v of a.ints) w.int(8, v);
    w.int(20, 7); // INTS
  }
}

function writeValueInfo(w: Writer, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.dataType); // elem_type
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

/** Serializes a model to ONNX protobuf bytes. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const w = new Writer();
  w.int(1, model.irVersion); // ir_version
  w.string(2, model.producerName);
  w.string(3, model.producerVersion);
  w.string(6, model.docString);
  w.message(7, (g) => {
    for (const n of model.nodes) {
      g.message(1, (node) => {
        for (const i of n.inputs) node.string(1, i);
        for (const o of n.outputs) node.string(2, o);
        node.string(3, n.name);
        node.string(4, n.opType);
        for (const a of n.attributes ?? []) node.message(5, (attr) => writeAttribute(attr, a));
      });
    }
    g.string(2, model.graphName);
    for (const t of model.initializers) g.message(5, (tensor) => writeTensor(tensor, t));
    for (const i of model.inputs) g.message(11, (vi) => writeValueInfo(vi, i));
    for (const o of model.outputs) g.message(12, (vi) => writeValueInfo(vi, o));
  });
  w.message(8, (op) => {
    op.string(1, '');
    op.int(2, model.opset);
  });
  for (const [key, value] of model.metadata ?? []) {
    w.message(14, (p) => {
      p.string(1, key);
      p.string(2, value);
    });
  }
  return w.finish();
}

/** Little-endian bytes of an int64 vector. */
export function int64Bytes(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 8);
  const view = new DataView(b.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return b;
}

/** Little-endian bytes of a float32 vector. */
export function float32Bytes(values: Float32Array): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const view = new DataView(b.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return b;
}
