// Renders the gateway's OpenAPI document as a readable page. Shipped inside the binary and
// loaded from the gateway itself: no CDN, no network access beyond /openapi.json.
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

const refName = (ref) => ref.split("/").pop();

function resolve(doc, schema, depth = 0) {
  if (!schema || depth > 6) return schema;
  if (schema.$ref) return resolve(doc, doc.components.schemas[refName(schema.$ref)], depth + 1);
  const out = Array.isArray(schema) ? [] : {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] = value && typeof value === "object" ? resolve(doc, value, depth + 1) : value;
  }
  return out;
}

function example(schema) {
  if (!schema) return null;
  if (schema.example !== undefined) return schema.example;
  if (schema.examples && schema.examples.length) return schema.examples[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (schema.oneOf || schema.anyOf) return example((schema.oneOf || schema.anyOf)[0]);
  if (type === "object" || schema.properties) {
    const out = {};
    for (const [key, value] of Object.entries(schema.properties || {})) out[key] = example(value);
    return out;
  }
  if (type === "array") return [example(schema.items)];
  if (type === "integer" || type === "number") return schema.minimum ?? 0;
  if (type === "boolean") return true;
  if (schema.enum) return schema.enum[0];
  return schema.format === "date-time" ? "2026-01-01T00:00:00Z" : "string";
}

function security(doc, op) {
  const requirements = op.security ?? doc.security ?? [];
  if (!requirements.length) return "public";
  const names = requirements.map((r) => Object.keys(r)[0] ?? "none (public)");
  return "auth: " + names.join(" or ");
}

function operation(doc, path, method, op) {
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, op.description));
  const params = op.parameters ?? [];
  if (params.length) {
    const rows = params.map((p) =>
      el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
        el("td", {}, p.required ? "required" : "optional"), el("td", {}, p.description ?? "")));
    body.append(el("h4", {}, "Parameters"),
      el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, ""), el("th", {}, "")), ...rows));
  }
  const request = op.requestBody?.content?.["application/json"]?.schema;
  if (request) {
    body.append(el("h4", {}, "Request body (application/json)"),
      el("pre", {}, JSON.stringify(example(resolve(doc, request)), null, 2)));
  }
  const responses = Object.entries(op.responses ?? {}).map(([code, response]) => {
    const content = response.content ?? {};
    const type = Object.keys(content)[0];
    const schema = type ? content[type].schema : null;
    return el("tr", {}, el("td", {}, el("code", {}, code)), el("td", {}, response.description ?? ""),
      el("td", {}, type ? el("code", {}, type + (schema?.$ref ? " " + refName(schema.$ref) : "")) : ""));
  });
  body.append(el("h4", {}, "Responses"), el("table", {}, ...responses));
  return el("details", {},
    el("summary", {}, el("span", { class: "method " + method }, method.toUpperCase()),
      el("code", {}, path), el("span", { class: "muted" }, op.summary ?? ""),
      el("span", { class: "lock" }, security(doc, op))),
    body);
}

async function main() {
  const response = await fetch("/openapi.json", { credentials: "same-origin" });
  const doc = await response.json();
  document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version}`;
  document.getElementById("summary").textContent = doc.info.description ?? "";
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const tag = op.tags?.[0] ?? "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(doc, path, method, op));
    }
  }
  const toc = document.getElementById("toc");
  const main = document.getElementById("operations");
  for (const [tag, operations] of byTag) {
    toc.append(el("a", { href: "#" + tag }, tag));
    main.append(el("h2", { id: tag }, tag), ...operations);
  }
}

main().catch((error) => {
  document.getElementById("summary").textContent = "The API dictionary could not be loaded: " + error;
});
