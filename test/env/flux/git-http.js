// Git's smart HTTP protocol on loopback, for Flux's source-controller (its GitRepository
// accepts http(s) and ssh URLs only, so `git daemon`'s git:// is out): each request runs git's
// own CGI program, `git http-backend`, over the bare repositories under ROOT. Read-only
// (clone and fetch; pushes go to the bare repository on disk) and behind HTTP basic auth, as a
// private Git host is: the credentials are in a Secret the GitRepository names.
//
//   node git-http.js ROOT PORT-FILE CREDENTIALS-FILE
// Listens on 127.0.0.1, an ephemeral port written to PORT-FILE once listening. CREDENTIALS-FILE
// holds `user:password` on one line.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { URL } from 'node:url';

const [root, portFile, credentialsFile] = process.argv.slice(2);
if (!root || !portFile || !credentialsFile) {
  console.error('usage: node git-http.js ROOT PORT-FILE CREDENTIALS-FILE');
  process.exit(2);
}
const expected = Buffer.from(`Basic ${Buffer.from(readFileSync(credentialsFile, 'utf8').trim()).toString('base64')}`);

function authorized(header) {
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** One line per request, as an access log: method, path, status. */
function logLine(req, status) {
  process.stdout.write(`${new Date().toISOString()} ${req.method} ${req.url} ${status}\n`);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const fail = (status, text) => {
    res.writeHead(status, { 'content-type': 'text/plain', ...(status === 401 ? { 'www-authenticate': 'Basic realm="kidp-git"' } : {}) });
    res.end(`${text}\n`);
    logLine(req, status);
  };
  if (!authorized(req.headers.authorization)) return fail(401, 'authentication required');
  // Read-only: the receive-pack service (push) is refused before git sees the request.
  if (url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack') return fail(403, 'read-only');
  // No path tricks: http-backend resolves PATH_INFO under GIT_PROJECT_ROOT, and refuses '..'
  // itself; refusing it here too keeps a hostile path from reaching it.
  if (url.pathname.split('/').some((seg) => seg === '..' || seg.startsWith('.'))) return fail(400, 'bad path');

  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      REMOTE_USER: 'flux',
      // Clients gzip large upload-pack requests; http-backend inflates them itself.
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
      // Protocol v2, when the client asks for it (go-git speaks v0/v1; git speaks v2).
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  req.pipe(child.stdin);
  child.stderr.on('data', (d) => process.stderr.write(d));

  // CGI output: headers, a blank line, the body.
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk) => {
    if (headersDone) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
    if (end < 0) return;
    const sep = end === crlf ? 4 : 2;
    const headers = {};
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
      else headers[name] = value;
    }
    headersDone = true;
    res.writeHead(status, headers);
    res.write(head.subarray(end + sep));
    logLine(req, status);
  });
  child.on('close', (code) => {
    if (!headersDone) return fail(502, `git http-backend exited ${code} without a response`);
    res.end();
  });
  child.on('error', (e) => {
    if (!headersDone) fail(500, `cannot run git http-backend: ${e.message}`);
  });
});

server.listen(0, '127.0.0.1', () => {
  writeFileSync(portFile, `${server.address().port}\n`);
  process.stdout.write(`git http on http://127.0.0.1:${server.address().port}/ serving ${root}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
