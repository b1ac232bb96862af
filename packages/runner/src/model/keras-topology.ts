/**
 * A typed view of the Keras functional-model topology stored in a TF.js layers-model `model.json`
 * (`modelTopology.model_config`), enough to walk the graph generically by `inbound_nodes`.
 */

export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Names of the layers whose outputs feed this layer (first inbound node; shared layers are not supported). */
  inputs: string[];
}

export interface KerasTopology {
  kerasVersion: string | undefined;
  /** Layers in dependency order: every layer comes after all of its inputs. */
  layers: KerasLayer[];
  inputLayers: string[];
  outputLayers: string[];
}

export class KerasTopologyError extends Error {
  override readonly name = "KerasTopologyError";
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function layerRefs(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new KerasTopologyError(`${what} is not a list`);
  return value.map((ref) => {
    if (!Array.isArray(ref) || typeof ref[0] !== "string")
      throw new KerasTopologyError(`${what} holds a bad entry`);
    return ref[0];
  });
}

function parseLayer(raw: unknown): KerasLayer {
  if (
    !isObject(raw) ||
    typeof raw.name !== "string" ||
    typeof raw.class_name !== "string" ||
    !isObject(raw.config)
  ) {
    throw new KerasTopologyError("A layer of the model topology lacks name, class_name or config");
  }
  const nodes = raw.inbound_nodes;
  if (!Array.isArray(nodes)) throw new KerasTopologyError(`Layer ${raw.name} has no inbound_nodes list`);
  if (nodes.length > 1)
    throw new KerasTopologyError(`Layer ${raw.name} is shared (${nodes.length} inbound nodes)`);
  const inputs = nodes.length === 0 ? [] : layerRefs(nodes[0], `inbound_nodes of layer ${raw.name}`);
  return { name: raw.name, className: raw.class_name, config: raw.config, inputs };
}

/** Orders layers so that every layer follows its inputs (Kahn's algorithm, stable w.r.t. file order). */
function dependencyOrder(layers: KerasLayer[]): KerasLayer[] {
  const byName = new Map(layers.map((layer) => [layer.name, layer]));
  const ordered: KerasLayer[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (layer: KerasLayer): void => {
    const seen = state.get(layer.name);
    if (seen === "done") return;
    if (seen === "visiting")
      throw new KerasTopologyError(`The model topology has a cycle through ${layer.name}`);
    state.set(layer.name, "visiting");
    for (const input of layer.inputs) {
      const producer = byName.get(input);
      if (!producer) throw new KerasTopologyError(`Layer ${layer.name} reads unknown layer ${input}`);
      visit(producer);
    }
    state.set(layer.name, "done");
    ordered.push(layer);
  };
  for (const layer of layers) visit(layer);
  return ordered;
}

/** Parses `modelJson.modelTopology` of a TF.js layers model holding a Keras functional `Model`. */
export function parseKerasTopology(modelTopology: unknown): KerasTopology {
  if (!isObject(modelTopology)) throw new KerasTopologyError("model.json has no modelTopology object");
  const modelConfig = isObject(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  const config = modelConfig.config;
  if (!isObject(config) || !Array.isArray(config.layers)) {
    throw new KerasTopologyError(
      `Expected a Keras functional model (class_name Model with config.layers), got ${String(modelConfig.class_name)}`,
    );
  }
  const layers = dependencyOrder(config.layers.map(parseLayer));
  const names = new Set<string>();
  for (const layer of layers) {
    if (names.has(layer.name)) throw new KerasTopologyError(`Duplicate layer name ${layer.name}`);
    names.add(layer.name);
  }
  return {
    kerasVersion: typeof modelTopology.keras_version === "string" ? modelTopology.keras_version : undefined,
    layers,
    inputLayers: layerRefs(config.input_layers, "input_layers"),
    outputLayers: layerRefs(config.output_layers, "output_layers"),
  };
}
