// Renders /openapi.json as a readable page, offline (no Swagger UI from a CDN).
"use strict";
const make = (tag, text, cls) => { const n = document.createElement(tag); if (text !== undefined) n.textContent = text; if (cls) n.className = cls; return n; };
function typeOf(schema) {
  if (!schema) return "";
  if (schema.type === "array") return typeOf(schema.items) + "[]";
  let text = schema.type || "";
  if (schema.enum) text += " (" + schema.enum.join(" | ") + ")";
  if (schema.minimum !== undefined || schema.maximum !== undefined) text += ` [${schema.minimum ?? ""}..${schema.maximum ?? ""}]`;
  return text;
}
fetch("/openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("version").textContent = "v" + doc.info.version;
  document.getElementById("intro").textContent = doc.info.description;
  const ops = document.getElementById("ops");
  for (const [path, methods] of Object.entries(doc.paths)) {
    const box = make("section", undefined, "op");
    const title = make("h2");
    title.append(make("span", Object.keys(methods).map((m) => m.toUpperCase()).join(" "), "method"), path);
    const first = Object.values(methods)[0];
    box.append(title, make("p", first.summary), make("p", first.description || "", "muted"));
    const get = methods.get || {}, post = methods.post || {};
    const body = post.requestBody ? post.requestBody.content["application/json"].schema : null;
    const params = body ? Object.entries(body.properties).map(([name, s]) => ({ name, schema: s, required: body.required.includes(name), description: s.description }))
                        : (get.parameters || []);
    if (params.length) {
      const table = make("table");
      for (const p of params) {
        const row = make("tr");
        row.append(make("td", p.name + (p.required ? " *" : "")), make("td", typeOf(p.schema)), make("td", (p.schema && p.schema.default !== undefined ? `default ${JSON.stringify(p.schema.default)}. ` : "") + (p.description || "")));
        table.append(row);
      }
      box.append(table);
    }
    ops.append(box);
  }
});
