/**
 * Certificates made at test time with the machine's `openssl`, as docs/security.md
 * tells an operator to make them: a small CA, and node certificates whose URI subject
 * alternative names say which node ids (`noex://name@host`) they are good for.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A certificate and its key, as PEM text and as files. */
export interface Issued {
  readonly cert: string
  readonly key: string
  readonly certFile: string
  readonly keyFile: string
}

const openssl = (args: ReadonlyArray<string>, cwd: string) => execFileSync("openssl", args, { cwd, stdio: "pipe" })

const read = (dir: string, base: string): Issued => ({
  cert: fs.readFileSync(path.join(dir, `${base}.crt`), "utf8"),
  key: fs.readFileSync(path.join(dir, `${base}.key`), "utf8"),
  certFile: path.join(dir, `${base}.crt`),
  keyFile: path.join(dir, `${base}.key`)
})

/** A scratch directory for one test file's certificates; removed by `cleanup`. */
export const certDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "noex-certs-"))
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** A self-signed CA named `name` (P-256, valid two days). */
export const makeCa = (dir: string, name: string): Issued => {
  openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign"
  ], dir)
  return read(dir, name)
}

/** A node certificate `base` signed by `ca`, naming each of `nodeNames` (`name@host`). */
export const issue = (dir: string, ca: Issued, base: string, nodeNames: ReadonlyArray<string>): Issued => {
  const ext = path.join(dir, `${base}.ext`)
  fs.writeFileSync(
    ext,
    [
      `subjectAltName=${nodeNames.map((n) => `URI:noex://${n}`).join(",")}`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth,clientAuth"
    ].join("\n")
  )
  openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${base}.key`,
    "-out",
    `${base}.csr`,
    "-subj",
    `/CN=${base}`
  ], dir)
  openssl([
    "x509",
    "-req",
    "-in",
    `${base}.csr`,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-out",
    `${base}.crt`,
    "-days",
    "2",
    "-extfile",
    ext
  ], dir)
  return read(dir, base)
}
