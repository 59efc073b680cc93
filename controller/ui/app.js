// The mesh graph page. Reads the admin API with the operator's token (from the URL fragment
// that `meshctl dashboard` writes, kept for this tab only) and redraws every few seconds.
/* global cytoscape */
'use strict';

const REFRESH_MS = 3000;
const TOKEN_KEY = 'hostmesh-admin-token';

function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function setStatus(text, error) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.classList.toggle('error', Boolean(error));
}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401 || res.status === 403) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw Object.assign(new Error(body.message || 'the admin token was refused'), { login: true });
  }
  if (!res.ok) throw new Error(body.message || `${path}: HTTP ${res.status}`);
  return body;
}

const pct = (x) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;
const ms = (x) => (x === null || x === undefined ? '-' : x.toFixed(x < 10 ? 2 : 0));
const rate = (x) => x.toFixed(x < 10 ? 2 : 0);

function edgeLabel(e) {
  const lock = e.mtlsShare !== null && e.mtlsShare >= 0.999 ? ' · mTLS' : '';
  return `${rate(e.requestsPerSecond)} rps · ${pct(e.errorRate)} err · p99 ${ms(e.p99Ms)} ms${lock}`;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fillTables(graph) {
  const edges = document.querySelector('#edges tbody');
  edges.replaceChildren();
  for (const e of graph.edges) {
    const row = edges.insertRow();
    row.dataset.edge = `${e.source} ${e.destination}`;
    cell(row, e.source);
    cell(row, e.destination);
    cell(row, rate(e.requestsPerSecond));
    cell(row, pct(e.errorRate), e.errorRate > 0.05 ? 'bad' : '');
    cell(row, ms(e.p99Ms));
    cell(row, e.mtlsShare === null ? '-' : pct(e.mtlsShare), e.mtlsShare !== null && e.mtlsShare < 0.999 ? 'bad' : '');
  }
  const findings = document.querySelector('#findings tbody');
  findings.replaceChildren();
  if (graph.findings.length === 0) cell(findings.insertRow(), 'none: the resources agree with each other and the catalog').colSpan = 4;
  for (const f of graph.findings) {
    const row = findings.insertRow();
    cell(row, f.code);
    cell(row, f.level, `level-${f.level}`);
    cell(row, f.resource);
    cell(row, f.message);
  }
}

// A global (window.cy), so that the graph can be inspected from the browser console and tests.
var cy; // eslint-disable-line no-var
let shape = '';

function drawGraph(graph) {
  const elements = [
    ...graph.nodes.map((n) => ({
      data: {
        id: n.id,
        label: n.outside ? n.name : `${n.name}\n${n.versions.join(' ') || ''}\n${n.sidecars ? `${n.synced}/${n.sidecars} synced` : 'no sidecar'}`,
        outside: n.outside ? 1 : 0,
      },
    })),
    ...graph.edges.map((e) => ({ data: { id: `${e.source}->${e.destination}`, source: e.source, target: e.destination, label: edgeLabel(e), bad: e.errorRate > 0.05 ? 1 : 0, mtls: e.mtlsShare !== null && e.mtlsShare >= 0.999 ? 1 : 0 } })),
  ];
  const newShape = elements.map((x) => x.data.id).join(',');
  if (!cy) {
    cy = cytoscape({
      container: document.getElementById('graph'),
      wheelSensitivity: 0.3,
      style: [
        { selector: 'node', style: { shape: 'round-rectangle', 'background-color': '#e8f0fe', 'border-color': '#3b6fd8', 'border-width': 1.5, label: 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'center', 'font-size': 11, width: 120, height: 52 } },
        { selector: 'node[outside = 1]', style: { 'background-color': '#f1f1f1', 'border-color': '#999', 'border-style': 'dashed', height: 32 } },
        { selector: 'node:selected', style: { 'border-width': 3 } },
        { selector: 'edge', style: { 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', width: 2, 'line-color': '#8a94a6', 'target-arrow-color': '#8a94a6', label: 'data(label)', 'font-size': 9, 'text-rotation': 'none', 'text-wrap': 'wrap', 'text-max-width': 150, 'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': 2 } },
        { selector: 'edge[mtls = 1]', style: { 'line-color': '#1a7f37', 'target-arrow-color': '#1a7f37' } },
        { selector: 'edge[bad = 1]', style: { 'line-color': '#b42318', 'target-arrow-color': '#b42318' } },
      ],
    });
    cy.on('tap', 'node', (ev) => void showService(ev.target.id()));
  }
  cy.batch(() => {
    for (const el of elements) {
      const cur = cy.getElementById(el.data.id);
      if (cur.nonempty()) cur.data(el.data);
      else cy.add(el);
    }
    const ids = new Set(elements.map((x) => x.data.id));
    cy.elements().filter((x) => !ids.has(x.id())).remove();
  });
  if (newShape !== shape) {
    shape = newShape;
    cy.layout({ name: 'breadthfirst', directed: true, spacingFactor: 1.3, padding: 20 }).run();
  }
  document.body.dataset.graphEdges = String(cy.edges().length);
}

async function showService(id) {
  const pane = document.getElementById('detail');
  if (!id.includes('/')) return void (pane.innerHTML = '<p>Outside the mesh: no instances in the catalog.</p>');
  const [ns, name] = id.split('/');
  try {
    const d = await api(`/v1/mesh/services/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
    pane.replaceChildren();
    const h = document.createElement('h2');
    h.textContent = d.host;
    pane.append(h);
    const section = (title, headers, rows) => {
      const h3 = document.createElement('h3');
      h3.textContent = title;
      const t = document.createElement('table');
      const head = t.createTHead().insertRow();
      for (const x of headers) head.appendChild(document.createElement('th')).textContent = x;
      const body = t.createTBody();
      if (rows.length === 0) cell(body.insertRow(), 'none').colSpan = headers.length;
      for (const r of rows) {
        const row = body.insertRow();
        for (const x of r) cell(row, x);
      }
      pane.append(h3, t);
    };
    section('Instances', ['instance', 'workload', 'address', 'proxy'], d.instances.map((i) => [i.id, i.workload, `${i.address}:${i.port}`, i.proxy]));
    section('Resources that apply', ['kind', 'name', 'why'], d.resources.map((r) => [r.kind, `${r.namespace}/${r.name}`, r.why]));
    section('Findings', ['code', 'message'], d.findings.map((f) => [f.code, f.message]));
  } catch (err) {
    pane.textContent = err.message;
  }
}

async function refresh() {
  try {
    const graph = await api('/v1/mesh/graph');
    drawGraph(graph);
    fillTables(graph);
    setStatus(`${graph.nodes.filter((n) => !n.outside).length} services, ${graph.edges.length} calls · updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (err.login) return showLogin(err.message);
    setStatus(err.message, true);
  }
}

function showLogin(message) {
  document.getElementById('app').hidden = true;
  document.getElementById('login').hidden = false;
  setStatus(message || 'give the admin token', Boolean(message));
}

function start() {
  document.getElementById('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
    document.getElementById('login').hidden = true;
    document.getElementById('app').hidden = false;
    void refresh();
  });
  if (!takeToken()) return showLogin();
  document.getElementById('app').hidden = false;
  void refresh();
  setInterval(() => {
    if (sessionStorage.getItem(TOKEN_KEY)) void refresh();
  }, REFRESH_MS);
}

start();
