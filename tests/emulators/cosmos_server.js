// Starts @vercel/cosmosdb-server (an in-memory Cosmos DB NoSQL stand-in) for
// the tests, patched so that it refuses what Cosmos DB refuses and has what our
// code relies on (DESIGN.md section 8). The adapter stays written for real
// Cosmos DB; the stand-in is made to behave like it, not the reverse.
//
// Usage: node cosmos_server.js <node_modules dir> <host> <port>
//
// What differs from the bare package (each part is marked below):
//
//  A. Limits. A request body over 2 MB answers 413 RequestEntityTooLarge; so
//     does a write that would make an item larger than 2 MB (a patch can).
//     A transactional batch with more than 100 operations, or with a document
//     whose partition-key value differs from the batch's partition-key header,
//     answers 400 BadRequest and writes nothing. Single creates, upserts and
//     replaces whose document does not carry the header's partition key
//     answer 400 too.
//  B. Transactional batches run all or nothing, in order: every operation is
//     evaluated against the batch's own view of the partition (so a create
//     then a replace of one id works, and two creates of one id fail with
//     409), and only when all succeed are the resulting documents put in
//     place, by steps that cannot fail. A failed batch answers 207 with the
//     failing operation's status and 424 for the others.
//  C. LSN and change feed. Every write gives the document the next LSN of its
//     container (a transactional batch is one transaction: its documents
//     share one LSN, as in Cosmos DB). The LSN is kept beside the document,
//     not in it: point reads, queries and write answers do not carry `_lsn`
//     (real Cosmos DB does not reliably expose it there either); the change
//     feed does. The incremental change feed (GET .../docs with
//     `A-IM: Incremental feed`, what azure-cosmos sends for
//     container.query_items_change_feed) answers the latest version of each
//     changed document once, in LSN order:
//       - If-None-Match absent: from the beginning; `*`: from now; `"<lsn>"`
//         (the etag of an earlier answer): after that LSN;
//       - If-Modified-Since (start_time=datetime): only documents whose `_ts`
//         is at or after it;
//       - x-ms-read-key-type EffectivePartitionKeyRange with x-ms-start-epk /
//         x-ms-end-epk (partition_key=...): only documents whose effective
//         partition key (MurmurHash3-128 of the value, Hash v2) is in range;
//         x-ms-documentdb-partitionkey: only that logical partition;
//       - x-ms-max-item-count (default 100) documents at most, except that a
//         page never splits one LSN (one batch), as in Cosmos DB;
//       - 200 with the etag `"<lsn of the page's last document>"` and
//         x-ms-item-count, or 304 Not Modified with the etag `"<container's
//         current lsn>"` when nothing is new. The SDK keeps that etag as its
//         continuation and sends it back in If-None-Match.
//     Deletes are not in the feed (latest-version mode).
//  D. Fault injection, on the same port (not subject to faults itself):
//       POST   /_oms/faults  {"status": 429, "count": 2, "retry_after_ms": 50,
//                            "substatus": 3200, "delay_ms": 0,
//                            "match": {"method": "POST", "path_contains": "/docs"}}
//              -> 201 with the fault as stored (its "id" included).
//              status: any 4xx/5xx (429, 408, 503, 410, 449, 500 ...); optional
//              when delay_ms is given: a "stall" holds each matching request
//              for delay_ms and then serves it normally (the write happens, as
//              on a server that answered too late); with both, the status is
//              answered after the delay. count: how many matching requests
//              get it (default 1). match: all given fields must hold; method
//              is compared case-insensitively, path_contains against the path.
//              429 answers carry x-ms-retry-after-ms (retry_after_ms, default
//              100); every injected answer carries x-ms-substatus (default
//              3200 for 429, else 0), x-ms-activity-id, x-ms-request-charge 0
//              and a Cosmos-shaped body {"code": ..., "message": ...}.
//       GET    /_oms/faults  -> {"faults": [...with "remaining" and "injected"],
//                               "injected": total, "by_status": {"429": n, "stall": m}}
//       DELETE /_oms/faults  -> clears the faults and the counters.
//     tests/emulators/cosmos_faults.py wraps this for the tests.
//  E. TTL. Containers keep indexingPolicy (completed with the defaults Cosmos
//     DB fills in) and defaultTtl, and answer them when read. With defaultTtl
//     set (-1: on without a default; N > 0: seconds), a document expires at
//     _ts + its own `ttl` (a positive number of seconds, or -1 for never) or
//     else the container's default; expired documents are deleted on the next
//     access to their container, so reads, queries and the change feed never
//     answer them. A defaultTtl that is not -1 or a positive integer is 400.
//  F. Request charge. Every answer carries x-ms-request-charge from the model
//     in section F below; a batch answers each operation's requestCharge and
//     the total in the header.
//  G. Kept from before: reading a missing item answers 404 (the package threw
//     a 500), a query with a partition key is scoped to that logical
//     partition, replacing a container keeps its documents, and HTTPS
//     connections are kept alive (the package closed every one).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const https = require("https");
const path = require("path");

const [modules, host = "127.0.0.1", portText = "8081"] = process.argv.slice(2);
if (!modules) {
  console.error("usage: node cosmos_server.js <node_modules dir> [host] [port]");
  process.exit(2);
}
const packageDir = path.join(modules, "@vercel", "cosmosdb-server");
const lib = path.join(packageDir, "lib");
const load = (name) => require(path.join(lib, name));

const Account = load("account").default;
const Items = load("account/items").default;
const Documents = load("account/documents").default;
const jsonModule = load("json");
const getValue = load("utils/get-value").default;
const { parsePartitionKey } = load("utils/get-partition-from-header");
const trueHeader = load("true-header").default;
const readItems = load("handler/_read-items").default;
const { patchOperation } = load("handler/_patch-operations");

const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const MAX_ITEM_BYTES = 2 * 1024 * 1024;
const MAX_BATCH_OPERATIONS = 100;
const DEFAULT_FEED_PAGE = 100;
const PK_HEADER = "x-ms-documentdb-partitionkey";
const SYSTEM_FIELDS = new Set(["_rid", "_self", "_etag", "_ts", "_attachments", "_lsn"]);

// ---------------------------------------------------------------- errors

const CODES = {
  304: "NotModified", 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
  408: "RequestTimeout", 409: "Conflict", 410: "Gone", 412: "PreconditionFailed",
  413: "RequestEntityTooLarge", 424: "FailedDependency", 429: "TooManyRequests", 449: "RetryWith",
  500: "InternalServerError", 503: "ServiceUnavailable",
};

// The shape Cosmos DB answers errors with: {"code", "message"}, the message
// carrying the errors as JSON and the activity id.
function errorBody(status, text, activityId) {
  return {
    code: CODES[status] || "Error",
    message: `Message: ${JSON.stringify({ Errors: [text] })}\r\nActivityId: ${activityId || crypto.randomUUID()}, `
      + "Request URI: local stand-in (tests/emulators/cosmos_server.js)",
  };
}

class CosmosError extends Error {
  constructor(status, text, substatus) {
    super(text);
    this.status = status;
    this.substatus = substatus;
  }
}

const tooLarge = () => new CosmosError(413, "Request size is too large");
const wrongPartitionKey = () => new CosmosError(
  400, "PartitionKey extracted from document doesn't match the one specified in the header.", 1001);

// ---------------------------------------------------------- partition keys

function keyPaths(coll) {
  return ((coll && coll.partitionKey) || {}).paths || [];
}

function pkValues(coll, doc) {
  return keyPaths(coll).map((p) => getValue(p.slice(1).split("/"), doc));
}

function headerValues(req) {
  const header = req.headers[PK_HEADER];
  if (header === undefined) return undefined;
  let parsed;
  try {
    parsed = JSON.parse(Array.isArray(header) ? header[0] : header);
  } catch (err) {
    throw new CosmosError(400, `The partition key ${header} is invalid.`);
  }
  if (!Array.isArray(parsed)) throw new CosmosError(400, `The partition key ${header} is invalid.`);
  return parsed;
}

// One partition-key component as sent in the header ({} = the document has
// no value there) against the document's value.
function sameComponent(sent, value) {
  if (sent !== null && typeof sent === "object" && !Array.isArray(sent) && Object.keys(sent).length === 0) {
    return value === undefined;
  }
  return sent === value;
}

function pkMatches(coll, sent, doc) {
  const paths = keyPaths(coll);
  if (!paths.length || sent === undefined) return true;
  if (sent.length !== paths.length) return false;
  const values = pkValues(coll, doc);
  return values.every((value, i) => sameComponent(sent[i], value));
}

// The package keys documents by (partition || id); stay consistent with it.
function partitionFor(req, id) {
  const header = req.headers[PK_HEADER];
  if (!header) return id;
  try {
    return parsePartitionKey(Array.isArray(header) ? header[0] : header, id);
  } catch (err) {
    throw new CosmosError(400, `The partition key ${header} is invalid.`);
  }
}

function lookup(collection, req, id) {
  if (id === undefined || id === null) return undefined;
  return collection.document(id, partitionFor(req, id)).read();
}

// ------------------------------------------------ effective partition keys
//
// Cosmos DB places a document by the MurmurHash3 x64 128-bit hash of its
// partition-key value (Hash v2): each component is written as a type byte
// (string 0x08 + UTF-8 + 0xFF, number 0x05 + float64 LE, true 0x03,
// false 0x02, null 0x01, undefined 0x00), hashed with seed 0, the 16 bytes
// reversed and the top two bits cleared; the hex string is the effective
// partition key that the SDK's feed ranges are made of.

const MASK64 = (1n << 64n) - 1n;

function rotl64(x, r) {
  return ((x << BigInt(r)) | (x >> BigInt(64 - r))) & MASK64;
}

function fmix64(k) {
  let h = k;
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & MASK64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK64;
  h ^= h >> 33n;
  return h;
}

function murmur3x64128(bytes) {
  const c1 = 0x87c37b91114253d5n;
  const c2 = 0x4cf5ad432745937fn;
  let h1 = 0n;
  let h2 = 0n;
  const word = (at, n) => {
    let v = 0n;
    for (let i = n - 1; i >= 0; i -= 1) v = (v << 8n) | BigInt(bytes[at + i]);
    return v;
  };
  const mixK1 = (k) => (rotl64((k * c1) & MASK64, 31) * c2) & MASK64;
  const mixK2 = (k) => (rotl64((k * c2) & MASK64, 33) * c1) & MASK64;
  const blocks = Math.floor(bytes.length / 16);
  for (let b = 0; b < blocks; b += 1) {
    h1 ^= mixK1(word(b * 16, 8));
    h1 = (((rotl64(h1, 27) + h2) & MASK64) * 5n + 0x52dce729n) & MASK64;
    h2 ^= mixK2(word(b * 16 + 8, 8));
    h2 = (((rotl64(h2, 31) + h1) & MASK64) * 5n + 0x38495ab5n) & MASK64;
  }
  const tail = blocks * 16;
  const rest = bytes.length - tail;
  if (rest > 8) h2 ^= mixK2(word(tail + 8, rest - 8));
  if (rest > 0) h1 ^= mixK1(word(tail, Math.min(rest, 8)));
  h1 ^= BigInt(bytes.length);
  h2 ^= BigInt(bytes.length);
  h1 = (h1 + h2) & MASK64;
  h2 = (h2 + h1) & MASK64;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 = (h1 + h2) & MASK64;
  h2 = (h2 + h1) & MASK64;
  return [h1, h2];
}

function componentBytes(value) {
  if (value === true) return Buffer.from([0x03]);
  if (value === false) return Buffer.from([0x02]);
  if (value === null) return Buffer.from([0x01]);
  if (value === undefined) return Buffer.from([0x00]);
  if (typeof value === "number") {
    const out = Buffer.alloc(9);
    out[0] = 0x05;
    out.writeDoubleLE(value, 1);
    return out;
  }
  if (typeof value === "string") return Buffer.concat([Buffer.from([0x08]), Buffer.from(value, "utf8"), Buffer.from([0xff])]);
  return Buffer.from([0x00]); // objects and arrays cannot be partition keys: undefined
}

function hashHex(bytes) {
  const [h1, h2] = murmur3x64128(bytes);
  const out = Buffer.alloc(16);
  out.writeBigUInt64BE(h2, 0); // the 16 little-endian bytes (h1 then h2), reversed
  out.writeBigUInt64BE(h1, 8);
  out[0] &= 0x3f;
  return out.toString("hex").toUpperCase();
}

function effectivePartitionKey(coll, doc) {
  const definition = coll.partitionKey || {};
  const values = pkValues(coll, doc);
  if (definition.kind === "MultiHash") return values.map((v) => hashHex(componentBytes(v))).join("");
  if (definition.version !== 2) {
    throw new CosmosError(400, "The stand-in computes effective partition keys for Hash v2 and MultiHash containers only.");
  }
  return hashHex(Buffer.concat(values.map(componentBytes)));
}

// ------------------------------------------------------- F. request charge
//
// The model (plausible, not exact; RU = request units):
//  - Point read: interpolated from Microsoft's published table (session
//    consistency): 1 KB 1.00, 2 KB 1.04, 4 KB 1.14, 8 KB 1.33, 16 KB 1.67,
//    32 KB 2.19, 64 KB 4.76, 128 KB 9.95, 256 KB 20.28, 512 KB 40.95,
//    1 MB 145.90, 2 MB 291.80 ("Understand request unit consumption").
//  - Write (create, upsert of a new item): the same table's write column
//    (1 KB 4.95, 2 KB 6.29, 4 KB 6.67, 8 KB 7.04, 16 KB 9.52, 32 KB 11.23,
//    64 KB 22.67, 128 KB 48.19, 256 KB 98.29, 512 KB 184.57, 1 MB 625,
//    2 MB 1250), taken to include the index terms of about 10 indexed
//    values: write = table(size) - 1.0 + 0.1 per indexed value, where the
//    indexed values are the document's scalar leaves that the container's
//    indexing policy includes (most precise included/excluded path wins;
//    indexingMode none indexes nothing). A 1 KB item with 15 indexed values
//    costs 5.45 RU; with the index excluded, 3.95.
//  - Replace, upsert of an existing item, patch: the write of the new
//    version plus 0.1 per indexed value of the old one (its terms removed).
//  - Delete: the write cost of the deleted version.
//  - Query (and read feed): 2.3 + per returned item 0.04 + 0.01 per KB.
//  - Change feed: 304 Not Modified 1.0; a page 2.0 + a point read per item.
//  - Transactional batch: the sum of its operations; a failed operation 1.0,
//    the others (424) 0.
//  - Metadata (account, databases, containers, partition key ranges) 1.0;
//    404, 409 and 412 answers 1.0; requests refused before execution (400,
//    413) and injected faults 0.
// Sizes are the UTF-8 length of the document's JSON, system fields included.

const READ_TABLE = [[1, 1.0], [2, 1.04], [4, 1.14], [8, 1.33], [16, 1.67], [32, 2.19], [64, 4.76],
  [128, 9.95], [256, 20.28], [512, 40.95], [1024, 145.9], [2048, 291.8]];
const WRITE_TABLE = [[1, 4.95], [2, 6.29], [4, 6.67], [8, 7.04], [16, 9.52], [32, 11.23], [64, 22.67],
  [128, 48.19], [256, 98.29], [512, 184.57], [1024, 625.0], [2048, 1250.0]];

function interpolate(table, kb) {
  if (kb <= table[0][0]) return table[0][1];
  for (let i = 1; i < table.length; i += 1) {
    const [x1, y1] = table[i];
    if (kb <= x1) {
      const [x0, y0] = table[i - 1];
      return y0 + ((y1 - y0) * (kb - x0)) / (x1 - x0);
    }
  }
  const [xl, yl] = table[table.length - 1];
  return (yl * kb) / xl;
}

const round = (ru) => Math.round(ru * 100) / 100;
const sizeOf = (doc) => Buffer.byteLength(JSON.stringify(doc), "utf8");

function parseIndexPath(text) {
  const parts = String(text || "").split("/").slice(1);
  const kind = parts.pop();
  return { segments: parts.map((s) => s.replace(/^"(.*)"$/, "$1")), kind };
}

function indexRules(policy) {
  const p = policy || {};
  const included = p.includedPaths && p.includedPaths.length ? p.includedPaths : [{ path: "/*" }];
  const rules = included.map((r) => ({ ...parseIndexPath(r.path), include: true }));
  for (const r of p.excludedPaths || []) rules.push({ ...parseIndexPath(r.path), include: false });
  return rules;
}

function ruleMatch(rule, leaf) {
  const n = rule.segments.length;
  if (rule.kind === "?" ? n !== leaf.length : n > leaf.length) return -1;
  for (let i = 0; i < n; i += 1) if (rule.segments[i] !== leaf[i]) return -1;
  return n * 2 + (rule.kind === "?" ? 1 : 0);
}

function indexedValues(policy, doc) {
  if (!doc || ((policy || {}).indexingMode || "consistent").toLowerCase() === "none") return 0;
  const rules = indexRules(policy);
  let count = 0;
  const walk = (value, leaf) => {
    if (value !== null && typeof value === "object") {
      const entries = Array.isArray(value) ? value.map((v) => ["[]", v]) : Object.entries(value);
      for (const [key, child] of entries) {
        if (!(leaf.length === 0 && SYSTEM_FIELDS.has(key))) walk(child, leaf.concat(key));
      }
      return;
    }
    let best = null;
    let bestScore = -1;
    for (const rule of rules) {
      const score = ruleMatch(rule, leaf);
      if (score > bestScore || (score === bestScore && score >= 0 && !rule.include)) {
        best = rule;
        bestScore = score;
      }
    }
    if (best && best.include) count += 1;
  };
  walk(doc, []);
  return count;
}

const charge = {
  read: (doc) => round(interpolate(READ_TABLE, sizeOf(doc) / 1024)),
  write(policy, doc, old) {
    const base = Math.max(interpolate(WRITE_TABLE, sizeOf(doc) / 1024) - 1.0, 1.0);
    return round(base + 0.1 * indexedValues(policy, doc) + (old ? 0.1 * indexedValues(policy, old) : 0));
  },
  remove: (policy, old) => charge.write(policy, old, null),
  query: (docs) => round(2.3 + docs.reduce((sum, d) => sum + 0.04 + (0.01 * sizeOf(d)) / 1024, 0)),
  feed: (docs) => (docs.length ? round(2.0 + docs.reduce((sum, d) => sum + charge.read(d), 0)) : 1.0),
};

function defaultCharge(status) {
  if (status === 400 || status === 413 || status >= 500) return 0;
  return 1.0;
}

// ---------------------------------------------------- C + E. LSN and TTL
//
// Per container (its Documents object): _omsLsn, the last LSN given out;
// _omsLsnByRid, the LSN of each live document; _omsNextExpiry, the earliest
// moment (seconds) a document may expire (0 = unknown, look again).

function feedState(docs) {
  if (docs._omsLsnByRid === undefined) {
    docs._omsLsn = 0;
    docs._omsLsnByRid = new Map();
    docs._omsNextExpiry = 0;
  }
  return docs;
}

function expiryOf(coll, doc) {
  const fallback = coll ? coll.defaultTtl : undefined;
  if (fallback === undefined || fallback === null) return Infinity;
  let ttl = fallback;
  if (Number.isInteger(doc.ttl) && (doc.ttl === -1 || doc.ttl > 0)) ttl = doc.ttl;
  return ttl === -1 ? Infinity : doc._ts + ttl;
}

function noteWrite(docs, doc, lsn) {
  const state = feedState(docs);
  state._omsLsnByRid.set(doc._rid, lsn);
  const coll = docs._parent.read();
  // 0 means "not known, look at every document on the next access": keep it.
  if (state._omsNextExpiry !== 0) state._omsNextExpiry = Math.min(state._omsNextExpiry, expiryOf(coll, doc));
}

function purgeExpired(collection) {
  const coll = collection.read();
  if (!coll || coll.defaultTtl === undefined || coll.defaultTtl === null) return;
  const docs = feedState(collection.documents);
  const now = Date.now() / 1000;
  if (docs._omsNextExpiry && now < docs._omsNextExpiry) return;
  let next = Infinity;
  for (const item of [...docs._data.values()]) {
    const doc = item.read();
    const expires = expiryOf(coll, doc);
    if (now >= expires) docs.delete(doc.id, docs._getPartition(doc));
    else next = Math.min(next, expires);
  }
  docs._omsNextExpiry = next;
}

// A document as the client sent it: no `_lsn` of its own, at most 2 MB.
function incoming(data) {
  if (!data || typeof data !== "object" || Array.isArray(data)) throw new CosmosError(400, "The document is not a JSON object.");
  const { _lsn: ignored, ...doc } = data;
  return doc;
}

function checkItemSize(doc) {
  if (sizeOf(doc) > MAX_ITEM_BYTES) throw tooLarge();
}

// Every single-document write of the package goes through these.
Documents.prototype.create = function create(data) {
  const doc = incoming(data);
  checkItemSize(doc);
  const out = Items.prototype.create.call(this, doc);
  feedState(this)._omsLsn += 1;
  noteWrite(this, out, this._omsLsn);
  return out;
};

Documents.prototype.replace = function replace(data, original) {
  const doc = incoming(data);
  checkItemSize(doc);
  const out = Items.prototype.replace.call(this, doc, original);
  feedState(this)._omsLsn += 1;
  noteWrite(this, out, this._omsLsn);
  return out;
};

Documents.prototype.delete = function remove(idOrRid, partition) {
  const data = this._item("/id", idOrRid, partition).read();
  Items.prototype.delete.call(this, idOrRid, partition);
  if (data) feedState(this)._omsLsnByRid.delete(data._rid);
};

// ------------------------------------------------------------- handlers
//
// Handlers are replaced in their modules before routes.js is loaded (it binds
// them when it loads). The request body was read by the dispatcher (section
// D/G below): the package's JSON reader parses that.

jsonModule.default = async (req) => JSON.parse(req.omsBody ? req.omsBody.toString("utf8") : "");

function bodyOf(req) {
  if (req.omsJson === undefined) {
    try {
      req.omsJson = JSON.parse(req.omsBody ? req.omsBody.toString("utf8") : "");
    } catch (err) {
      throw new CosmosError(400, `The request payload is invalid: ${err.message}`);
    }
  }
  return req.omsJson;
}

function existing(account, dbId, collId) {
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) throw new CosmosError(404, "Resource Not Found (the container does not exist).");
  return collection;
}

function requireKey(coll, req) {
  const sent = headerValues(req);
  if (sent === undefined && keyPaths(coll).length) {
    throw new CosmosError(400, "PartitionKey value must be supplied for this operation.");
  }
  return sent;
}

function patchHandler(name, wrap) {
  const mod = load(`handler/${name}`);
  mod.default = wrap(mod.default);
}

// G. Point read: 404 for a missing item (the package threw a 500), checked
// against the whole partition key; If-None-Match with the current etag: 304.
patchHandler("read-document", () => async (account, req, res, { dbId, collId, docId }) => {
  const collection = existing(account, dbId, collId);
  const coll = collection.read();
  const sent = requireKey(coll, req);
  const doc = lookup(collection, req, docId);
  if (!doc || !pkMatches(coll, sent, doc)) throw new CosmosError(404, "Entity with the specified id does not exist in the system.");
  res.omsCharge = charge.read(doc);
  if (req.headers["if-none-match"] && req.headers["if-none-match"] === doc._etag) {
    res.statusCode = 304;
    return undefined;
  }
  return doc;
});

// A. Creates, upserts and replaces: the container must exist, the document
// must carry the header's partition key; the answer's charge is a write.
function writeHandler(kind) {
  return (original) => async (account, req, res, params) => {
    const collection = existing(account, params.dbId, params.collId);
    const coll = collection.read();
    const body = bodyOf(req);
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new CosmosError(400, "The document is not a JSON object.");
    const sent = requireKey(coll, req);
    if (!pkMatches(coll, sent, body)) throw wrongPartitionKey();
    if (kind === "replace" && body.id !== params.docId) {
      throw new CosmosError(400, "The id in the document does not match the id in the request URI.");
    }
    const old = kind === "create" ? undefined : lookup(collection, req, body.id);
    const result = await original(account, req, res, params);
    if (res.statusCode < 300 && result) res.omsCharge = charge.write(coll.indexingPolicy, result, old);
    return result;
  };
}
patchHandler("create-document", writeHandler("create"));
patchHandler("upsert-document", writeHandler("upsert"));
patchHandler("replace-document", writeHandler("replace"));

patchHandler("patch-document", (original) => async (account, req, res, params) => {
  const collection = existing(account, params.dbId, params.collId);
  const coll = collection.read();
  requireKey(coll, req);
  const old = lookup(collection, req, params.docId);
  const result = await original(account, req, res, params);
  if (res.statusCode < 300 && result) res.omsCharge = charge.write(coll.indexingPolicy, result, old);
  return result;
});

patchHandler("delete-document", (original) => async (account, req, res, params) => {
  const collection = existing(account, params.dbId, params.collId);
  const coll = collection.read();
  requireKey(coll, req);
  const old = lookup(collection, req, params.docId);
  const result = await original(account, req, res, params);
  if (res.statusCode < 300 && old) res.omsCharge = charge.remove(coll.indexingPolicy, old);
  return result;
});

// G. Queries: with a partition key, only that logical partition is queried
// (the package ignored the header and, without the key in the WHERE clause,
// refused the query); without one, a cross-partition query must be enabled
// or the WHERE clause must name the key, as before.
patchHandler("query-documents", (original) => async (account, req, res, params) => {
  if (req.headers[PK_HEADER] === undefined) {
    const result = await original(account, req, res, params);
    if (result && Array.isArray(result.Documents)) res.omsCharge = charge.query(result.Documents);
    return result;
  }
  const collection = existing(account, params.dbId, params.collId);
  const coll = collection.read();
  const sent = headerValues(req);
  const result = await readItems(req, res, "Documents", async ({ continuation, maxItemCount }) => {
    const body = bodyOf(req);
    if (!body || !body.query) {
      res.statusCode = 400;
      return { message: "missing query" };
    }
    const docs = collection.documents;
    const data = [...docs._data.values()].map((item) => item.read()).filter((doc) => pkMatches(coll, sent, doc));
    const options = {
      parameters: body.parameters,
      udf: docs._userDefinedFunctions(),
      maxItemCount,
      continuation,
      compositeIndexes: (coll.indexingPolicy || {}).compositeIndexes || [],
    };
    try {
      return docs._getQuery(body.query).exec(data, options);
    } catch (err) {
      throw new CosmosError(400, err.message); // a query the engine cannot parse or run
    }
  });
  if (result && Array.isArray(result.Documents)) res.omsCharge = charge.query(result.Documents);
  return result;
});

// C. The change feed (GET .../docs with A-IM), else the package's read feed.
patchHandler("read-documents", (original) => async (account, req, res, params) => {
  if (req.headers["a-im"]) return changeFeed(account, req, res, params);
  const result = await original(account, req, res, params);
  if (result && Array.isArray(result.Documents)) res.omsCharge = charge.query(result.Documents);
  return result;
});

function changeFeed(account, req, res, { dbId, collId }) {
  const collection = existing(account, dbId, collId);
  const coll = collection.read();
  const mode = String(req.headers["a-im"]);
  if (mode.toLowerCase() !== "incremental feed") {
    throw new CosmosError(400, `The stand-in serves the latest-version change feed only (A-IM: ${mode}).`);
  }
  const range = req.headers["x-ms-documentdb-partitionkeyrangeid"];
  if (range !== undefined && String(range) !== "0") {
    throw new CosmosError(400, `The stand-in has one partition key range, "0" (asked for ${range}).`);
  }
  const docs = feedState(collection.documents);
  const current = docs._omsLsn;
  let after = 0;
  const token = req.headers["if-none-match"];
  if (token === "*") after = current;
  else if (token) {
    after = Number(String(token).replace(/^W\//, "").replace(/"/g, ""));
    if (!Number.isInteger(after) || after < 0) throw new CosmosError(400, `Invalid change feed continuation ${token}.`);
  }
  let since = null;
  if (req.headers["if-modified-since"]) {
    const ms = Date.parse(req.headers["if-modified-since"]);
    if (Number.isNaN(ms)) throw new CosmosError(400, `Invalid If-Modified-Since ${req.headers["if-modified-since"]}.`);
    since = Math.floor(ms / 1000);
  }
  let inRange = () => true;
  if (String(req.headers["x-ms-read-key-type"] || "") === "EffectivePartitionKeyRange") {
    const start = String(req.headers["x-ms-start-epk"] || "");
    const end = String(req.headers["x-ms-end-epk"] || "FF");
    inRange = (doc) => {
      const epk = effectivePartitionKey(coll, doc);
      return epk >= start && epk < end;
    };
  }
  const sent = headerValues(req);
  const candidates = [];
  for (const item of docs._data.values()) {
    const doc = item.read();
    const lsn = docs._omsLsnByRid.get(doc._rid) || 0;
    if (lsn <= after) continue;
    if (since !== null && doc._ts < since) continue;
    if (sent !== undefined && !pkMatches(coll, sent, doc)) continue;
    if (!inRange(doc)) continue;
    candidates.push([lsn, doc]);
  }
  candidates.sort((a, b) => a[0] - b[0]);
  let limit = parseInt(req.headers["x-ms-max-item-count"], 10);
  if (!Number.isInteger(limit) || limit === 0) limit = DEFAULT_FEED_PAGE;
  if (limit < 0) limit = Infinity;
  let count = Math.min(limit, candidates.length);
  while (count > 0 && count < candidates.length && candidates[count][0] === candidates[count - 1][0]) count += 1;
  const page = candidates.slice(0, count).map(([lsn, doc]) => ({ ...doc, _lsn: lsn }));
  res.omsCharge = charge.feed(page);
  if (!page.length) {
    res.statusCode = 304;
    res.setHeader("etag", `"${Math.max(after, current)}"`);
    return undefined;
  }
  res.statusCode = 200;
  res.setHeader("etag", `"${candidates[count - 1][0]}"`);
  res.setHeader("x-ms-item-count", String(page.length));
  return { _rid: coll._rid, Documents: page, _count: page.length };
}

// B. Transactional batches (and non-atomic ones, operation by operation).
const BATCH_TYPES = new Set(["Create", "Upsert", "Replace", "Delete", "Read", "Patch"]);

function validateBatch(coll, req, body) {
  if (!Array.isArray(body)) throw new CosmosError(400, "The batch request body must be a JSON array of operations.");
  if (body.length === 0) throw new CosmosError(400, "The batch request did not have any operations to be executed.");
  if (body.length > MAX_BATCH_OPERATIONS) {
    throw new CosmosError(400, `Batch request has more operations (${body.length}) than what is supported (${MAX_BATCH_OPERATIONS}).`);
  }
  if (req.headers[PK_HEADER] === undefined) throw new CosmosError(400, "A transactional batch needs a partition key.");
  const sent = headerValues(req);
  body.forEach((op, i) => {
    if (!op || !BATCH_TYPES.has(op.operationType)) {
      throw new CosmosError(400, `Operation ${i}: operation type '${op && op.operationType}' is not supported in a batch.`);
    }
    if (["Create", "Upsert", "Replace"].includes(op.operationType)) {
      const doc = op.resourceBody;
      if (!doc || typeof doc !== "object" || Array.isArray(doc) || typeof doc.id !== "string" || !doc.id) {
        throw new CosmosError(400, `Operation ${i}: the document needs a string id.`);
      }
      if (!pkMatches(coll, sent, doc)) throw wrongPartitionKey();
      if (op.operationType === "Replace" && op.id !== undefined && op.id !== doc.id) {
        throw new CosmosError(400, `Operation ${i}: the id does not match the document's id.`);
      }
    } else if (typeof op.id !== "string" || !op.id) {
      throw new CosmosError(400, `Operation ${i}: an id is needed.`);
    }
  });
}

// Runs operations against a view of the partition layered over the stored
// documents; nothing is stored. Answers per-operation results and the view.
function simulate(collection, req, operations) {
  const coll = collection.read();
  const docs = collection.documents;
  const policy = coll.indexingPolicy;
  const view = new Map();
  const current = (id) => (view.has(id) ? view.get(id) : docs._item("/id", id, partitionFor(req, id)).read() || null);
  const uniquePaths = docs._uniqueKeyPaths.filter((p) => p !== "/id");
  const now = Math.floor(Date.now() / 1000);

  const uniqueClash = (doc) => {
    if (!uniquePaths.length) return false;
    const sameParts = new Map();
    for (const item of docs._data.values()) {
      const other = item.read();
      if (docs._getPartition(other) === docs._getPartition(doc)) sameParts.set(other.id, other);
    }
    for (const [id, other] of view) {
      if (other) sameParts.set(id, other);
      else sameParts.delete(id);
    }
    return uniquePaths.some((p) => {
      const keys = p.slice(1).split("/");
      const value = getValue(keys, doc);
      return [...sameParts.values()].some((other) => other.id !== doc.id && getValue(keys, other) === value);
    });
  };

  const stage = (data, before) => {
    const body = incoming(data);
    const rid = before ? before._rid : (() => {
      docs._ridCount += 1;
      return docs._rid(docs._ridCount);
    })();
    const doc = { ...body, id: body.id, _etag: crypto.randomUUID(), _rid: rid, _self: docs._self(rid), _ts: now };
    if (sizeOf(doc) > MAX_ITEM_BYTES) throw tooLarge();
    if (uniqueClash(doc)) throw new CosmosError(409, "Unique index constraint violation.");
    return doc;
  };

  const results = [];
  for (const op of operations) {
    const id = op.operationType === "Create" || op.operationType === "Upsert" ? op.resourceBody.id
      : op.id !== undefined ? op.id : op.resourceBody.id;
    const before = current(id);
    const preconditionFails = () => op.ifMatch && before && op.ifMatch !== before._etag;
    let result;
    try {
      switch (op.operationType) {
        case "Create": {
          if (before) throw new CosmosError(409, "Entity with the specified id already exists in the system.");
          const doc = stage(op.resourceBody, null);
          view.set(id, doc);
          result = { statusCode: 201, requestCharge: charge.write(policy, doc, null), eTag: doc._etag, resourceBody: doc };
          break;
        }
        case "Upsert": {
          if (preconditionFails()) throw new CosmosError(412, "One of the specified pre-condition is not met.");
          const doc = stage(op.resourceBody, before);
          view.set(id, doc);
          result = { statusCode: before ? 200 : 201, requestCharge: charge.write(policy, doc, before), eTag: doc._etag, resourceBody: doc };
          break;
        }
        case "Replace": {
          if (!before) throw new CosmosError(404, "Entity with the specified id does not exist in the system.");
          if (preconditionFails()) throw new CosmosError(412, "One of the specified pre-condition is not met.");
          const doc = stage(op.resourceBody, before);
          view.set(id, doc);
          result = { statusCode: 200, requestCharge: charge.write(policy, doc, before), eTag: doc._etag, resourceBody: doc };
          break;
        }
        case "Delete": {
          if (!before) throw new CosmosError(404, "Entity with the specified id does not exist in the system.");
          if (preconditionFails()) throw new CosmosError(412, "One of the specified pre-condition is not met.");
          view.set(id, null);
          result = { statusCode: 204, requestCharge: charge.remove(policy, before) };
          break;
        }
        case "Read": {
          if (!before) throw new CosmosError(404, "Entity with the specified id does not exist in the system.");
          result = { statusCode: 200, requestCharge: charge.read(before), eTag: before._etag, resourceBody: before };
          break;
        }
        case "Patch": {
          if (!before) throw new CosmosError(404, "Entity with the specified id does not exist in the system.");
          if (preconditionFails()) throw new CosmosError(412, "One of the specified pre-condition is not met.");
          const patched = patchInView(docs, req, before, op);
          if (!pkMatches(coll, pkValues(coll, before), patched)) throw new CosmosError(400, "The partition key cannot be patched.");
          const doc = stage(patched, before);
          view.set(id, doc);
          result = { statusCode: 200, requestCharge: charge.write(policy, doc, before), eTag: doc._etag, resourceBody: doc };
          break;
        }
        default:
          throw new CosmosError(400, `Operation type '${op.operationType}' is not supported in a batch.`);
      }
    } catch (err) {
      if (!(err instanceof CosmosError)) throw err;
      result = { statusCode: err.status, requestCharge: 1.0, message: err.message };
      if (err.substatus) result.subStatusCode = err.substatus;
    }
    results.push(result);
  }
  return { results, view };
}

// A patch evaluated against the batch's view: the package's patch logic run
// on a stand-in collection that holds only the current version and keeps
// the patched document instead of storing it.
function patchInView(docs, req, before, op) {
  let patched = null;
  const single = {
    document: () => ({ read: () => before }),
    documents: {
      replace: (data) => {
        patched = data;
        return data;
      },
      query: (params) => docs._getQuery(params.query).exec([before], { parameters: params.parameters, udf: docs._userDefinedFunctions() }),
    },
  };
  const body = op.resourceBody || {};
  const outcome = patchOperation(single, {
    id: op.id,
    partitionKey: req.headers[PK_HEADER],
    ifMatch: op.ifMatch,
    operations: body.operations,
    condition: body.condition,
  });
  if (outcome.statusCode !== 200) {
    throw new CosmosError(outcome.statusCode, (outcome.body && outcome.body.message) || "The patch failed.");
  }
  return patched;
}

// Puts a successful simulation's documents in place. Every step here is a
// map update on a document known to exist or not: none can fail half way.
function commit(collection, req, view) {
  const docs = feedState(collection.documents);
  if (!view.size) return;
  docs._omsLsn += 1;
  const lsn = docs._omsLsn;
  for (const [id, doc] of view) {
    const partition = partitionFor(req, id);
    const before = docs._item("/id", id, partition).read();
    if (before) {
      Items.prototype.delete.call(docs, id, partition);
      docs._omsLsnByRid.delete(before._rid);
    }
    if (doc) {
      docs._set(doc);
      noteWrite(docs, doc, lsn);
    }
  }
}

patchHandler("batch-documents", () => async (account, req, res, { dbId, collId }) => {
  const collection = existing(account, dbId, collId);
  const coll = collection.read();
  const body = bodyOf(req);
  validateBatch(coll, req, body);
  const atomic = trueHeader(req, "x-ms-cosmos-batch-atomic");
  const total = (results) => round(results.reduce((sum, r) => sum + (r.requestCharge || 0), 0));
  if (atomic) {
    const { results, view } = simulate(collection, req, body);
    const failed = results.findIndex((r) => r.statusCode >= 400);
    if (failed >= 0) {
      res.statusCode = 207;
      const answer = results.map((r, i) => (i === failed ? r : { statusCode: 424, requestCharge: 0 }));
      res.omsCharge = total(answer);
      return answer;
    }
    commit(collection, req, view);
    res.statusCode = 200;
    res.omsCharge = total(results);
    return results;
  }
  const continueOnError = trueHeader(req, "x-ms-cosmos-batch-continue-on-error");
  const answer = [];
  let failed = false;
  for (const op of body) {
    if (failed && !continueOnError) {
      answer.push({ statusCode: 424, requestCharge: 0 });
      continue;
    }
    const { results, view } = simulate(collection, req, [op]);
    if (results[0].statusCode < 400) commit(collection, req, view);
    else failed = true;
    answer.push(results[0]);
  }
  res.statusCode = answer.some((r) => r.statusCode >= 400) ? 207 : 200;
  res.omsCharge = total(answer);
  return answer;
});

// E. Containers keep indexingPolicy (with Cosmos DB's defaults filled in)
// and defaultTtl; a defaultTtl that is not -1 or a positive integer is 400.
function checkContainerBody(body) {
  if (!body || typeof body !== "object") return;
  const ttl = body.defaultTtl;
  if (ttl !== undefined && ttl !== null && !(Number.isInteger(ttl) && (ttl === -1 || (ttl > 0 && ttl <= 2147483647)))) {
    throw new CosmosError(400, `The value of defaultTtl (${JSON.stringify(ttl)}) is invalid: it must be -1 or a positive integer.`);
  }
  const policy = { indexingMode: "consistent", automatic: true, ...(body.indexingPolicy || {}) };
  if (!policy.includedPaths) policy.includedPaths = [{ path: "/*" }];
  if (!policy.excludedPaths) policy.excludedPaths = [];
  if (!policy.excludedPaths.some((p) => p && p.path === '/"_etag"/?')) policy.excludedPaths.push({ path: '/"_etag"/?' });
  body.indexingPolicy = policy;
}

function containerBodyReader(req) {
  const body = bodyOf(req);
  checkContainerBody(body);
  req.omsBody = Buffer.from(JSON.stringify(body), "utf8");
  req.omsJson = undefined;
}

patchHandler("create-collection", (original) => async (account, req, res, params) => {
  containerBodyReader(req);
  return original(account, req, res, params);
});

// Replacing a container made the package build a new, empty one: move the
// documents (and their LSN and TTL state) to the replacement.
patchHandler("replace-collection", (original) => async (account, req, res, params) => {
  containerBodyReader(req);
  const database = account.database(params.dbId);
  const before = database.collection(params.collId);
  const result = await original(account, req, res, params);
  const after = database.collection(params.collId);
  if (res.statusCode < 300 && after !== before && before.read()) {
    for (const part of ["documents", "partitionKeyRanges", "userDefinedFunctions"]) {
      after[part] = before[part];
      after[part]._parent = after;
    }
    if (after.documents._omsLsnByRid !== undefined) after.documents._omsNextExpiry = 0;
  }
  return result;
});

// ------------------------------------------------------ D. fault injection

const faults = { list: [], nextId: 1, byStatus: {}, total: 0 };

function faultFrom(spec) {
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) throw new CosmosError(400, "A fault is a JSON object.");
  const status = spec.status === undefined || spec.status === null ? null : spec.status;
  const delay = spec.delay_ms === undefined || spec.delay_ms === null ? 0 : spec.delay_ms;
  if (status !== null && !(Number.isInteger(status) && status >= 400 && status <= 599)) {
    throw new CosmosError(400, "status must be an HTTP error status (400-599).");
  }
  if (!(Number.isInteger(delay) && delay >= 0)) throw new CosmosError(400, "delay_ms must be a non-negative integer.");
  if (status === null && delay === 0) throw new CosmosError(400, "A fault needs a status, a delay_ms, or both.");
  const count = spec.count === undefined ? 1 : spec.count;
  if (!(Number.isInteger(count) && count > 0)) throw new CosmosError(400, "count must be a positive integer.");
  const retryAfter = spec.retry_after_ms === undefined || spec.retry_after_ms === null
    ? (status === 429 ? 100 : null) : spec.retry_after_ms;
  if (retryAfter !== null && !(Number.isInteger(retryAfter) && retryAfter >= 0)) {
    throw new CosmosError(400, "retry_after_ms must be a non-negative integer.");
  }
  const substatus = spec.substatus === undefined || spec.substatus === null ? (status === 429 ? 3200 : 0) : spec.substatus;
  if (!Number.isInteger(substatus)) throw new CosmosError(400, "substatus must be an integer.");
  const match = spec.match || {};
  if (typeof match !== "object" || Array.isArray(match)) throw new CosmosError(400, "match is a JSON object.");
  for (const key of Object.keys(match)) {
    if (!["method", "path_contains"].includes(key)) throw new CosmosError(400, `Unknown match field ${key}.`);
  }
  return {
    id: faults.nextId++,
    status,
    delay_ms: delay,
    count,
    remaining: count,
    retry_after_ms: retryAfter,
    substatus,
    match: { ...match },
    injected: 0,
  };
}

function takeFault(method, pathname) {
  for (const fault of faults.list) {
    if (fault.remaining <= 0) continue;
    const m = fault.match;
    if (m.method && String(m.method).toUpperCase() !== method.toUpperCase()) continue;
    if (m.path_contains && !pathname.includes(String(m.path_contains))) continue;
    fault.remaining -= 1;
    fault.injected += 1;
    faults.total += 1;
    const key = fault.status === null ? "stall" : String(fault.status);
    faults.byStatus[key] = (faults.byStatus[key] || 0) + 1;
    return fault;
  }
  return null;
}

const FAULT_TEXT = {
  408: "Request timed out. More info: https://aka.ms/cosmosdb-tsg-request-timeout",
  410: "The requested resource is no longer available at the server.",
  429: "Request rate is large. More Request Units may be needed, so no changes were made. "
    + "Please retry this request later. Learn more: http://aka.ms/cosmosdb-error-429",
  449: "Conflicting request to resource has been attempted. Retry to avoid conflicts.",
  503: "Service is currently unavailable. More info: https://aka.ms/cosmosdb-tsg-service-unavailable",
};

function controlFaults(req, res, raw) {
  if (req.method === "GET") {
    return send(res, 200, { faults: faults.list, injected: faults.total, by_status: faults.byStatus }, 0);
  }
  if (req.method === "DELETE") {
    const cleared = faults.list.length;
    faults.list = [];
    faults.byStatus = {};
    faults.total = 0;
    return send(res, 200, { cleared }, 0);
  }
  if (req.method === "POST") {
    let spec;
    try {
      spec = JSON.parse(raw.toString("utf8") || "{}");
    } catch (err) {
      return send(res, 400, errorBody(400, `Invalid JSON: ${err.message}`), 0);
    }
    try {
      const fault = faultFrom(spec);
      faults.list.push(fault);
      return send(res, 201, fault, 0);
    } catch (err) {
      if (err instanceof CosmosError) return send(res, err.status, errorBody(err.status, err.message), 0);
      throw err;
    }
  }
  return send(res, 405, errorBody(405, "GET, POST or DELETE"), 0);
}

// ----------------------------------------------------- G. the dispatcher
//
// Our own request handler in front of the package's router (which it uses
// for everything else): reads the body (2 MB limit), serves the control
// endpoints, injects faults, expires TTL'd documents, runs the handler and
// answers with the headers the package set (etag, content-location,
// activity id ...) plus the request charge and keep-alive.

const routes = load("routes").default; // after the handlers above are patched
let account = null;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES + 1) chunks.push(chunk); // past the limit: drained, not kept
    });
    req.on("end", () => resolve({ body: Buffer.concat(chunks), size }));
    req.on("error", reject);
  });
}

function send(res, status, body, ru, headers = {}) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("connection", "keep-alive");
  if (!res.hasHeader("x-ms-activity-id")) res.setHeader("x-ms-activity-id", crypto.randomUUID());
  res.setHeader("x-ms-request-charge", String(ru));
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(status === 204 || status === 304 || body === undefined ? undefined : JSON.stringify(body));
}

function normalisedPath(url) {
  let pathname = url.split("?")[0];
  if (pathname.startsWith("//")) pathname = pathname.slice(1);
  while (pathname.length > 1 && pathname.endsWith("/")) pathname = pathname.slice(0, -1);
  return pathname;
}

async function handle(req, res) {
  const { body: raw, size } = await readBody(req);
  const pathname = normalisedPath(req.url);
  const activityId = crypto.randomUUID();
  res.setHeader("x-ms-activity-id", activityId);

  if (pathname === "/_oms/faults") return controlFaults(req, res, raw);

  const fault = takeFault(req.method, pathname);
  if (fault) {
    if (fault.delay_ms) await sleep(fault.delay_ms);
    if (fault.status !== null) {
      const headers = { "x-ms-substatus": String(fault.substatus) };
      if (fault.retry_after_ms !== null) headers["x-ms-retry-after-ms"] = String(fault.retry_after_ms);
      const text = FAULT_TEXT[fault.status] || `Injected ${fault.status} (fault ${fault.id}).`;
      return send(res, fault.status, errorBody(fault.status, text, activityId), 0, headers);
    }
  }

  if (size > MAX_REQUEST_BYTES) {
    return send(res, 413, errorBody(413, "Request size is too large", activityId), 0);
  }
  req.omsBody = raw;

  const inContainer = /^\/dbs\/([^/]+)\/colls\/([^/]+)(\/|$)/.exec(pathname);
  if (inContainer && account) {
    purgeExpired(account.database(decodeURIComponent(inContainer[1])).collection(decodeURIComponent(inContainer[2])));
  }

  const route = routes(req);
  if (!route) return send(res, 400, errorBody(400, `No route for ${req.method} ${pathname}.`, activityId), 0);
  const [params, handler] = route;
  let body;
  try {
    body = await handler(account, req, res, params);
  } catch (err) {
    if (err instanceof CosmosError) {
      const headers = err.substatus ? { "x-ms-substatus": String(err.substatus) } : {};
      return send(res, err.status, errorBody(err.status, err.message, activityId), defaultCharge(err.status), headers);
    }
    console.error(err);
    return send(res, 500, errorBody(500, err.message, activityId), 0);
  }
  const status = res.statusCode;
  if (status > 399 && body && typeof body === "object" && !Array.isArray(body)) {
    body = { code: CODES[status] || "Error", message: "", ...body };
  }
  if (body && body._etag) res.setHeader("etag", body._etag);
  res.setHeader("content-location", `https://${req.headers.host}${req.url}`);
  if (req.headers["x-ms-documentdb-populatequerymetrics"]) {
    const count = body && Array.isArray(body.Documents) ? body.Documents.length : 0;
    res.setHeader("x-ms-documentdb-query-metrics", "totalExecutionTimeInMs=0.00;queryCompileTimeInMs=0.00;"
      + "queryLogicalPlanBuildTimeInMs=0.00;queryPhysicalPlanBuildTimeInMs=0.00;queryOptimizationTimeInMs=0.00;"
      + "VMExecutionTimeInMs=0.00;indexLookupTimeInMs=0.00;documentLoadTimeInMs=0.00;systemFunctionExecuteTimeInMs=0.00;"
      + `userFunctionExecuteTimeInMs=0.00;retrievedDocumentCount=${count};retrievedDocumentSize=0;`
      + `outputDocumentCount=${count};outputDocumentSize=0;writeOutputTimeInMs=0.00;indexUtilizationRatio=0.00`);
  }
  // Partition key ranges are read as a change feed too (A-IM): one range
  // that never changes, so a second read with its etag is Not Modified.
  let finalStatus = status;
  if (req.headers["a-im"] && status === 200 && /\/pkranges$/.test(pathname)) {
    if (req.headers["if-none-match"]) finalStatus = 304;
    res.setHeader("etag", "1");
  }
  const ru = res.omsCharge !== undefined ? res.omsCharge : defaultCharge(finalStatus);
  return send(res, finalStatus, body, ru);
}

const server = https.createServer(
  {
    cert: fs.readFileSync(path.join(packageDir, "cert.pem")),
    key: fs.readFileSync(path.join(packageDir, "key.pem")),
    minVersion: "TLSv1",
  },
  (req, res) => {
    handle(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) send(res, 500, errorBody(500, err.message), 0);
      else res.destroy();
    });
  },
);
server.keepAliveTimeout = 60000;
server.listen(parseInt(portText, 10), host, () => {
  const address = server.address();
  const hostname = address.address === "0.0.0.0" || address.address === "::" ? "localhost" : address.address;
  account = new Account(hostname, address.port);
  console.log(`Ready to accept HTTPS connections at ${host}:${address.port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
