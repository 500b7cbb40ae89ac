// Starts @vercel/cosmosdb-server (in-memory Cosmos DB NoSQL stand-in) for the
// tests, with the few handlers patched where it differs from Cosmos DB in ways
// our adapter relies on (DESIGN.md section 8). The adapter itself stays written
// for real Cosmos DB; the stand-in is made to behave like it, not the reverse.
//
// Usage: node cosmos_server.js <node_modules dir> <host> <port>
"use strict";

const path = require("path");

const [modules, host = "127.0.0.1", portText = "8081"] = process.argv.slice(2);
if (!modules) {
  console.error("usage: node cosmos_server.js <node_modules dir> [host] [port]");
  process.exit(2);
}
const lib = path.join(modules, "@vercel", "cosmosdb-server", "lib");
const load = (name) => require(path.join(lib, name));

const ops = load("handler/_document-operations");
const { parsePartitionKey } = load("utils/get-partition-from-header");
const readJson = load("json").default;
const trueHeader = load("true-header").default;

const notFound = () => ({
  code: "NotFound",
  message: "Entity with the specified id does not exist in the system.",
});

// 1. Reading a missing item answered 500 (a TypeError in the handler);
//    Cosmos DB answers 404.
const readDocument = load("handler/read-document");
const originalRead = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    const header = req.headers["x-ms-documentdb-partitionkey"];
    let partition;
    try {
      partition = header ? parsePartitionKey(header, params.docId) : params.docId;
    } catch (err) {
      partition = params.docId;
    }
    if (!collection.document(params.docId, partition).read()) {
      res.statusCode = 404;
      return notFound();
    }
  }
  return originalRead(account, req, res, params);
};

// 2. A transactional batch: operations without their own partition key (the
//    Python SDK puts it in the request header) failed with 500, and a failing
//    operation left the earlier ones applied. Cosmos DB runs the batch in one
//    partition, all or nothing: here every operation is checked first, and
//    nothing is applied unless all would succeed. Node runs this handler to
//    the end without interleaving another request, so check-then-apply holds.
const batch = load("handler/batch-documents");
batch.default = async (account, req, res, { dbId, collId }) => {
  const body = await readJson(req);
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    res.statusCode = 404;
    return {};
  }
  if (!Array.isArray(body)) {
    res.statusCode = 400;
    return { message: "Invalid request body" };
  }
  const header = req.headers["x-ms-documentdb-partitionkey"];
  const atomic = trueHeader(req, "x-ms-cosmos-batch-atomic");
  const inputs = body.map((op) => ({ ...op, partitionKey: op.partitionKey || header }));
  const partitionOf = (op) => parsePartitionKey(op.partitionKey, op.id || (op.resourceBody || {}).id);

  const check = () => {
    const seen = new Set();
    for (let i = 0; i < inputs.length; i += 1) {
      const op = inputs[i];
      const id = op.id || (op.resourceBody || {}).id;
      if (!id) return [i, 400];
      const key = `${partitionOf(op)}\u0000${id}`;
      const existing = seen.has(key) ? { _etag: "pending" } : collection.document(id, partitionOf(op)).read();
      switch (op.operationType) {
        case "Create":
          if (existing) return [i, 409];
          break;
        case "Replace":
        case "Delete":
        case "Read":
          if (!existing) return [i, 404];
          if (op.ifMatch && op.ifMatch !== existing._etag) return [i, 412];
          break;
        case "Upsert":
          if (op.ifMatch && existing && op.ifMatch !== existing._etag) return [i, 412];
          break;
        default:
          return [i, 400];
      }
      if (op.operationType !== "Read") seen.add(key);
    }
    return null;
  };

  if (atomic) {
    const failure = check();
    if (failure) {
      const [index, statusCode] = failure;
      res.statusCode = 207;
      return inputs.map((_, i) => ({ statusCode: i === index ? statusCode : 424, requestCharge: 0 }));
    }
  }
  const apply = {
    Create: ops.createOperation,
    Upsert: ops.upsertOperation,
    Read: ops.readOperation,
    Delete: ops.deleteOperation,
    Replace: ops.replaceOperation,
  };
  return inputs.map((op) => {
    const result = apply[op.operationType](collection, op);
    if (result.statusCode >= 400) return { statusCode: result.statusCode, requestCharge: 0 };
    return {
      statusCode: result.statusCode,
      requestCharge: 1,
      eTag: result.body ? result.body._etag : undefined,
      resourceBody: result.body,
    };
  });
};

// 3. The server closed every HTTPS connection ("connection: close"), which
//    makes each request pay a TLS handshake; keep connections alive.
const { createHttpsServer } = load("index");
const server = createHttpsServer({ keepAlive: true, keepAliveTimeout: 60000 });
server.listen(parseInt(portText, 10), host, () => {
  const { port } = server.address();
  console.log(`Ready to accept HTTPS connections at ${host}:${port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
