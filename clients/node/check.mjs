// Checks, from Node.js, that a MegaRouter server answers a plain gRPC client:
// the standard health check, admin calls with a valid API key, and a clean
// UNAUTHENTICATED for a bad key. Prints a JSON summary on stdout and one line
// per check on stderr; exits 0 only when every expectation holds.
//
// Environment:
//   MEGAROUTER_TARGET   host:port of the server (required)
//   MEGAROUTER_API_KEY  an API key allowed to list orgs and teams (required)
//   MEGAROUTER_TLS      "1" to connect over TLS with the system roots

import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import path from "node:path";
import process from "node:process";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_PROTOS = path.resolve(HERE, "../../protos");
const LOCAL_PROTOS = path.resolve(HERE, "protos");
const DEADLINE_MS = 10_000;
// Shaped like a real key (mr- and 32 random bytes), so the server must look
// it up and refuse it, not merely reject its form.
const BAD_KEY = `mr-${randomBytes(32).toString("base64url")}`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** Loads the health and admin services into grpc-js client constructors. */
function loadServices() {
  const definition = protoLoader.loadSync(
    ["grpc/health/v1/health.proto", "megarouter/v1/admin_service.proto"],
    {
      includeDirs: [REPO_PROTOS, LOCAL_PROTOS],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  const loaded = grpc.loadPackageDefinition(definition);
  return {
    Health: loaded.grpc.health.v1.Health,
    AdminService: loaded.megarouter.v1.AdminService,
  };
}

/** Calls one unary method and resolves with its response. */
function unary(client, method, request, apiKey) {
  const metadata = new grpc.Metadata();
  if (apiKey !== undefined) {
    metadata.set("authorization", `Bearer ${apiKey}`);
  }
  const deadline = new Date(Date.now() + DEADLINE_MS);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline }, (error, response) => {
      if (error) {
        reject(error);
      } else {
        resolve(response);
      }
    });
  });
}

/** Describes a gRPC error as "NAME (code): details". */
function describe(error) {
  const name = grpc.status[error.code] ?? "NOT_A_GRPC_ERROR";
  return `${name} (${error.code}): ${error.details ?? error.message}`;
}

/** Runs every check in order, recording results and failures in summary. */
async function runChecks(health, admin, apiKey, summary) {
  const fail = (message) => summary.failures.push(message);

  try {
    const reply = await unary(health, "Check", { service: "" });
    summary.health = reply.status;
    if (reply.status !== "SERVING") {
      fail(`health: expected SERVING, got ${reply.status}`);
    }
  } catch (error) {
    fail(`health: Check failed with ${describe(error)}`);
  }

  try {
    const reply = await unary(admin, "ListOrgs", { page_size: 100 }, apiKey);
    summary.orgs = reply.orgs.map((org) => org.name);
    if (summary.orgs.length === 0) {
      fail("ListOrgs with the valid key: expected at least one org, got none");
    }
  } catch (error) {
    fail(`ListOrgs with the valid key failed with ${describe(error)}`);
  }

  try {
    const caller = await unary(admin, "GetCaller", {}, apiKey);
    summary.caller_org = caller.org;
    const reply = await unary(admin, "ListTeams", { parent: caller.org }, apiKey);
    summary.teams = reply.teams.map((team) => team.name);
  } catch (error) {
    fail(`GetCaller/ListTeams with the valid key failed with ${describe(error)}`);
  }

  try {
    await unary(admin, "ListOrgs", {}, BAD_KEY);
    fail("ListOrgs with a bad key: expected UNAUTHENTICATED, the call succeeded");
  } catch (error) {
    summary.bad_key = { code: error.code, status: grpc.status[error.code] };
    if (error.code !== grpc.status.UNAUTHENTICATED) {
      fail(`ListOrgs with a bad key: expected UNAUTHENTICATED, got ${describe(error)}`);
    }
  }
}

async function main() {
  const target = process.env.MEGAROUTER_TARGET;
  const apiKey = process.env.MEGAROUTER_API_KEY;
  if (!target || !apiKey) {
    console.error("set MEGAROUTER_TARGET (host:port) and MEGAROUTER_API_KEY");
    return EXIT_USAGE;
  }

  const { Health, AdminService } = loadServices();
  const credentials =
    process.env.MEGAROUTER_TLS === "1"
      ? grpc.credentials.createSsl()
      : grpc.credentials.createInsecure();
  const health = new Health(target, credentials);
  const admin = new AdminService(target, credentials);

  const summary = {
    target,
    health: null,
    orgs: [],
    caller_org: null,
    teams: [],
    bad_key: null,
    failures: [],
  };
  try {
    await runChecks(health, admin, apiKey, summary);
  } finally {
    health.close();
    admin.close();
  }

  summary.ok = summary.failures.length === 0;
  console.log(JSON.stringify(summary, null, 2));
  for (const failure of summary.failures) {
    console.error(`FAILED ${failure}`);
  }
  if (summary.ok) {
    console.error(`ok: ${target} passed every check`);
  }
  return summary.ok ? EXIT_OK : EXIT_FAILED;
}

process.exitCode = await main();
