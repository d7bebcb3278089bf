"use strict";
// The stsd API reference: reads the OpenAPI document of this server and renders it. Text from
// the document is only ever inserted with textContent, never as HTML.
(function () {
  var METHODS = ["get", "post", "put", "patch", "delete"];
  var doc = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function refName(ref) { return ref.split("/").pop(); }

  function resolve(obj) {
    var seen = 0;
    while (obj && obj.$ref && seen < 10) {
      var parts = obj.$ref.replace(/^#\//, "").split("/");
      var target = doc;
      parts.forEach(function (p) { target = target ? target[p] : undefined; });
      obj = target;
      seen += 1;
    }
    return obj || {};
  }

  function types(s) {
    if (Array.isArray(s.type)) return s.type;
    return s.type ? [s.type] : [];
  }

  // A compact, TypeScript-like rendering of a schema, expanding references a few levels deep.
  function schemaText(s, depth, indent) {
    indent = indent || "";
    if (!s) return "any";
    if (s.$ref) {
      var name = refName(s.$ref);
      if (depth <= 0) return name;
      return name + " " + schemaText(resolve(s), depth - 1, indent);
    }
    if (s.oneOf || s.anyOf) {
      return (s.oneOf || s.anyOf).map(function (x) { return schemaText(x, depth, indent); }).join(" | ");
    }
    if (s.allOf) {
      return s.allOf.map(function (x) { return schemaText(x, depth, indent); }).join(" & ");
    }
    var t = types(s);
    var nullable = t.indexOf("null") >= 0;
    t = t.filter(function (x) { return x !== "null"; });
    var out;
    if (t[0] === "object" || s.properties) {
      var props = s.properties || {};
      var req = s.required || [];
      var keys = Object.keys(props);
      if (!keys.length) out = "object";
      else {
        out = "{\n" + keys.map(function (k) {
          var p = props[k];
          var line = indent + "  " + k + (req.indexOf(k) >= 0 ? "" : "?") + ": " + schemaText(p, depth, indent + "  ");
          if (p && p.description) line += "  // " + p.description.split("\n")[0];
          return line;
        }).join("\n") + "\n" + indent + "}";
      }
    } else if (t[0] === "array") {
      out = schemaText(s.items, depth, indent) + "[]";
    } else if (nullable && !t.length) {
      return "null";
    } else if (t.length) {
      out = t.join(" | ");
      if (s.format) out += " (" + s.format + ")";
    } else {
      out = "any";
    }
    return nullable ? out + " | null" : out;
  }

  // An example value for a request body, from the schema's examples or its types.
  function example(s, depth) {
    s = s || {};
    if (depth > 6) return null;
    if (s.$ref) return example(resolve(s), depth + 1);
    if (s.examples && s.examples.length) return s.examples[0];
    if (s.example !== undefined) return s.example;
    if (s.oneOf || s.anyOf) return example((s.oneOf || s.anyOf)[0], depth + 1);
    if (s.allOf) {
      var merged = {};
      s.allOf.forEach(function (x) { Object.assign(merged, example(x, depth + 1)); });
      return merged;
    }
    var t = types(s).filter(function (x) { return x !== "null"; })[0];
    if (t === "object" || s.properties) {
      var out = {};
      var req = s.required || [];
      Object.keys(s.properties || {}).forEach(function (k) {
        if (req.indexOf(k) >= 0) out[k] = example(s.properties[k], depth + 1);
      });
      return out;
    }
    if (t === "array") return [example(s.items, depth + 1)];
    if (t === "integer" || t === "number") return 0;
    if (t === "boolean") return false;
    if (t === "string") return "";
    return null;
  }

  function slug(method, path) { return "op-" + method + path.replace(/[^a-zA-Z0-9]+/g, "-"); }

  function paramRows(params) {
    return el("table", {}, [
      el("tr", {}, [el("th", { text: "Name" }), el("th", { text: "In" }), el("th", { text: "Type" }), el("th", { text: "Description" })])
    ].concat(params.map(function (p) {
      return el("tr", {}, [
        el("td", {}, [el("code", { text: p.name + (p.required ? "" : "?") })]),
        el("td", { text: p.in }),
        el("td", {}, [el("code", { text: schemaText(p.schema, 0) })]),
        el("td", { text: p.description || "" })
      ]);
    })));
  }

  function responsesTable(responses) {
    var rows = [el("tr", {}, [el("th", { text: "Status" }), el("th", { text: "Description" }), el("th", { text: "Body" })])];
    Object.keys(responses || {}).forEach(function (code) {
      var r = resolve(responses[code]);
      var body = null;
      var content = r.content || {};
      var types = Object.keys(content);
      if (types.length) {
        var schema = content[types[0]].schema;
        body = el("details", {}, [
          el("summary", {}, [el("code", { text: types[0] + (schema && schema.$ref ? " · " + refName(schema.$ref) : "") })]),
          el("pre", { class: "schema", text: schemaText(schema, 2) })
        ]);
      }
      var headers = Object.keys(r.headers || {});
      var desc = (r.description || "") + (headers.length ? " (headers: " + headers.join(", ") + ")" : "");
      rows.push(el("tr", {}, [
        el("td", { class: "status s" + code.charAt(0), text: code }),
        el("td", { text: desc }),
        el("td", {}, [body])
      ]));
    });
    return el("table", {}, rows);
  }

  function tryIt(method, path, op) {
    var params = op.parameters || [];
    var inputs = {};
    var box = el("div", { class: "try" }, [el("strong", { text: "Try it" })]);
    params.forEach(function (p) {
      var input = el("input", { class: "mono", type: "text", placeholder: schemaText(p.schema, 0), "aria-label": p.name });
      inputs[p.name] = { param: p, input: input };
      box.appendChild(el("label", { text: p.name + " (" + p.in + (p.required ? ", required" : "") + ")" }));
      box.appendChild(input);
    });
    var bodyArea = null;
    if (op.requestBody) {
      var content = resolve(op.requestBody).content || {};
      var media = content["application/json"] || {};
      bodyArea = el("textarea", { spellcheck: "false", "aria-label": "JSON body" });
      bodyArea.value = JSON.stringify(example(media.schema, 0), null, 2);
      box.appendChild(el("label", { text: "JSON body" }));
      box.appendChild(bodyArea);
    }
    var result = el("div", { class: "result" });
    var button = el("button", { type: "button", text: "Send" });
    button.addEventListener("click", function () {
      var url = path;
      var query = new URLSearchParams();
      var headers = {};
      var missing = [];
      Object.keys(inputs).forEach(function (name) {
        var p = inputs[name].param;
        var v = inputs[name].input.value;
        if (!v) { if (p.required) missing.push(name); return; }
        if (p.in === "path") url = url.replace("{" + name + "}", encodeURIComponent(v));
        else if (p.in === "query") query.append(name, v);
        else if (p.in === "header") headers[name] = v;
      });
      result.textContent = "";
      if (missing.length) {
        result.appendChild(el("p", { class: "error", text: "Fill in: " + missing.join(", ") }));
        return;
      }
      var qs = query.toString();
      if (qs) url += "?" + qs;
      var token = document.getElementById("token").value.trim();
      if (token) headers["Authorization"] = "Bearer " + token;
      var init = { method: method.toUpperCase(), headers: headers, credentials: "same-origin" };
      if (bodyArea) { headers["Content-Type"] = "application/json"; init.body = bodyArea.value; }
      var started = performance.now();
      fetch(url, init).then(function (resp) {
        return resp.text().then(function (text) {
          var shown = text;
          try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
          var ms = Math.round(performance.now() - started);
          result.appendChild(el("div", {}, [
            el("span", { class: "status s" + String(resp.status).charAt(0), text: resp.status + " " + resp.statusText }),
            el("span", { class: "muted", text: "  " + init.method + " " + url + " · " + ms + " ms" })
          ]));
          result.appendChild(el("pre", { text: shown || "(empty body)" }));
        });
      }).catch(function (err) {
        result.appendChild(el("p", { class: "error", text: "Request failed: " + err }));
      });
    });
    box.appendChild(button);
    box.appendChild(result);
    return box;
  }

  function operation(method, path, op) {
    var secured = (op.security || []).filter(function (r) { return Object.keys(r).length; })
      .map(function (r) { return Object.keys(r).join("+"); });
    var summary = el("summary", {}, [
      el("span", { class: "method m-" + method, text: method.toUpperCase() }),
      el("span", { class: "path", text: path }),
      el("span", { class: "summary", text: op.summary || "" }),
      secured.length ? el("span", { class: "lock", text: "auth: " + secured.join(" or ") }) : null
    ]);
    var body = el("div", { class: "body" });
    if (op.description) body.appendChild(el("p", { text: op.description }));
    if (op.parameters && op.parameters.length) {
      body.appendChild(el("h4", { text: "Parameters" }));
      body.appendChild(paramRows(op.parameters));
    }
    if (op.requestBody) {
      var content = resolve(op.requestBody).content || {};
      Object.keys(content).forEach(function (type) {
        body.appendChild(el("h4", { text: "Request body · " + type }));
        body.appendChild(el("pre", { class: "schema", text: schemaText(content[type].schema, 2) }));
      });
    }
    body.appendChild(el("h4", { text: "Responses" }));
    body.appendChild(responsesTable(op.responses));
    body.appendChild(tryIt(method, path, op));
    return el("details", { class: "op", id: slug(method, path) }, [summary, body]);
  }

  function render() {
    var info = doc.info || {};
    document.getElementById("title").textContent = (info.title || "API") + " API reference";
    document.getElementById("version").textContent = "v" + (info.version || "?") + " · OpenAPI " + doc.openapi;
    document.title = (info.title || "API") + " API reference";
    var main = document.getElementById("main");
    var nav = document.getElementById("nav");
    main.textContent = "";
    nav.textContent = "";
    var intro = el("div", { class: "intro" });
    (info.description || "").split("\n\n").forEach(function (para) { intro.appendChild(el("p", { text: para })); });
    intro.appendChild(el("p", { class: "muted", text: "Generated from /api/v1/openapi.json. \"Try it\" sends real requests to this server with the bearer token above." }));
    main.appendChild(intro);

    var tags = (doc.tags || []).map(function (t) { return t.name; });
    var byTag = {};
    Object.keys(doc.paths || {}).forEach(function (path) {
      METHODS.forEach(function (m) {
        var op = doc.paths[path][m];
        if (!op) return;
        var tag = (op.tags && op.tags[0]) || "other";
        if (tags.indexOf(tag) < 0) tags.push(tag);
        (byTag[tag] = byTag[tag] || []).push([m, path, op]);
      });
    });
    tags.forEach(function (tag) {
      var ops = byTag[tag];
      if (!ops) return;
      var meta = (doc.tags || []).filter(function (t) { return t.name === tag; })[0] || {};
      var section = el("section", { class: "tag", id: "tag-" + tag }, [
        el("h2", { text: tag }),
        meta.description ? el("p", { text: meta.description }) : null
      ]);
      nav.appendChild(el("h3", { text: tag }));
      ops.forEach(function (o) {
        section.appendChild(operation(o[0], o[1], o[2]));
        var link = el("a", { href: "#" + slug(o[0], o[1]), title: o[1] }, [
          el("span", { class: "method m-" + o[0], text: o[0].toUpperCase() }),
          el("span", { text: o[1].replace(/^\/api\/v1/, "") })
        ]);
        link.addEventListener("click", function () {
          var target = document.getElementById(slug(o[0], o[1]));
          if (target) target.open = true;
        });
        nav.appendChild(link);
      });
      main.appendChild(section);
    });
  }

  fetch("/api/v1/openapi.json", { credentials: "same-origin" })
    .then(function (resp) {
      if (!resp.ok) throw new Error("status " + resp.status);
      return resp.json();
    })
    .then(function (json) {
      doc = json;
      render();
      // A link to an operation (#op-…) opens it.
      var target = location.hash && document.getElementById(location.hash.slice(1));
      if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
    })
    .catch(function (err) {
      var main = document.getElementById("main");
      main.textContent = "";
      main.appendChild(el("p", { class: "error", text: "Cannot load the OpenAPI document: " + err }));
    });
})();
