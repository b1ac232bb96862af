/** Serialises a GraphDescription to ONNX protobuf bytes with `onnx-proto` (static protobufjs code of onnx.proto). */
import onnxProto from "onnx-proto";
import type { AttributeValue, GraphDescription, GraphInitializer, GraphValue } from "./graph.js";

const { onnx } = onnxProto;

/** ONNX operator set the graph is written against; IR version 7 is the first that supports opset 13. */
export const ONNX_OPSET = 13;
const IR_VERSION = 7;

export interface ModelMetadata {
  producerVersion: string;
  docString: string;
  properties: Record<string, string>;
}

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`Attribute ${name}: only integer attributes are emitted`);
    return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
  }
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: value };
}

function initializer(tensor: GraphInitializer): onnxProto.onnx.ITensorProto {
  const { data } = tensor;
  return {
    name: tensor.name,
    dims: tensor.dims,
    dataType:
      data instanceof Float32Array ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
    // raw_data is little-endian; so is every platform Node's prebuilt onnxruntime-node supports.
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function batchedFloat(value: GraphValue): onnxProto.onnx.IValueInfoProto {
  return {
    name: value.name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: "batch" }, ...value.dims.map((dimValue) => ({ dimValue }))] },
      },
    },
  };
}

export function encodeOnnxModel(graph: GraphDescription, metadata: ModelMetadata): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: "rescale-run",
    producerVersion: metadata.producerVersion,
    docString: metadata.docString,
    metadataProps: Object.entries(metadata.properties).map(([key, value]) => ({ key, value })),
    graph: {
      name: "resnet50_features",
      node: graph.nodes.map((node) => ({
        name: node.name,
        opType: node.opType,
        input: node.inputs,
        output: node.outputs,
        attribute: Object.entries(node.attributes).map(([name, value]) => attribute(name, value)),
      })),
      initializer: graph.initializers.map(initializer),
      input: [batchedFloat(graph.input)],
      output: graph.outputs.map(batchedFloat),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
