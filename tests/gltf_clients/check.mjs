// Reads each GLB named on the command line with two independent glTF clients and prints
// one JSON object per file: the Khronos validator's verdict, and what
// @gltf-transform/core sees (vertex bounds in world space, the base-colour texture, extras).
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";
import { NodeIO } from "@gltf-transform/core";
import { KHRONOS_EXTENSIONS } from "@gltf-transform/extensions";

async function validate(bytes) {
  const report = await validator.validateBytes(new Uint8Array(bytes), { maxIssues: 50 });
  return {
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    infos: report.issues.numInfos,
    messages: report.issues.messages.map((m) => `${m.code}: ${m.message} (${m.pointer ?? ""})`),
  };
}

function worldBounds(document) {
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (const node of document.getRoot().listNodes()) {
    const mesh = node.getMesh();
    if (!mesh) continue;
    const matrix = node.getWorldMatrix();
    for (const prim of mesh.listPrimitives()) {
      const position = prim.getAttribute("POSITION");
      const p = [0, 0, 0];
      for (let i = 0; i < position.getCount(); i++) {
        position.getElement(i, p);
        for (let r = 0; r < 3; r++) {
          const v = matrix[r] * p[0] + matrix[4 + r] * p[1] + matrix[8 + r] * p[2] + matrix[12 + r];
          min[r] = Math.min(min[r], v);
          max[r] = Math.max(max[r], v);
        }
      }
    }
  }
  return { min, max };
}

function textures(document) {
  return document.getRoot().listMaterials().map((material) => {
    const texture = material.getBaseColorTexture();
    return {
      mime: texture ? texture.getMimeType() : null,
      size: texture ? texture.getSize() : null,
      unlit: material.listExtensions().some((e) => e.extensionName === "KHR_materials_unlit"),
    };
  });
}

const io = new NodeIO().registerExtensions(KHRONOS_EXTENSIONS);
const results = {};
for (const path of process.argv.slice(2)) {
  const bytes = await readFile(path);
  const document = await io.readBinary(new Uint8Array(bytes));
  const meshes = document.getRoot().listMeshes();
  results[path] = {
    validator: await validate(bytes),
    meshes: meshes.length,
    bounds: worldBounds(document),
    materials: textures(document),
    extras: meshes.map((m) => m.getExtras()),
    attributes: meshes.flatMap((m) => m.listPrimitives().map((p) => p.listSemantics().sort())),
  };
}
console.log(JSON.stringify(results));
