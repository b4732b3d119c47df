// nodemailer's smtp-server on loopback for smtpsh's interop tests (started by
// scripts/setup-interop). Usage: node node-smtp-server.js FACTS.json
// STARTTLS with the test certificate, AUTH PLAIN/LOGIN (only inside TLS, the library's
// default), RCPT accepted for the configured users of its own domains only (its domain
// and its host name, as most MTAs do).
"use strict";
const fs = require("fs");
const { SMTPServer } = require("smtp-server");

const facts = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const users = new Set(facts.users);
const domains = new Set(facts.domains);

function refuse(text, code) {
  const err = new Error(text);
  err.responseCode = code;
  return err;
}

const server = new SMTPServer({
  name: facts.hostname,
  key: fs.readFileSync(facts.key),
  cert: fs.readFileSync(facts.cert),
  authMethods: ["PLAIN", "LOGIN"],
  authOptional: true,
  size: facts.size,
  logger: false,
  onAuth(auth, session, callback) {
    if (auth.username === facts.auth.user && auth.password === facts.auth.password) {
      return callback(null, { user: auth.username });
    }
    return callback(refuse("Invalid username or password", 535));
  },
  onRcptTo(address, session, callback) {
    const at = address.address.lastIndexOf("@");
    const local = at < 0 ? address.address : address.address.slice(0, at);
    const domain = at < 0 ? "" : address.address.slice(at + 1).toLowerCase();
    if (domains.has(domain)) {
      if (users.has(local.toLowerCase())) return callback();
      return callback(refuse("No such user here", 550));
    }
    if (session.user) return callback();
    return callback(refuse("Relay access denied", 554));
  },
  onData(stream, session, callback) {
    stream.on("data", () => {});
    stream.on("end", () => {
      if (stream.sizeExceeded) return callback(refuse("Message too big", 552));
      return callback();
    });
  },
});
server.on("error", (err) => console.error("smtp-server:", err.message));
server.listen(facts.port, facts.host);
