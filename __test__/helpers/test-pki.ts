/**
 * A small PKI for tests, made with the openssl CLI in a temporary folder
 * (removed at once): a CA, certificates signed by it, and a rogue CA.
 * Nothing private is committed and nothing expires in the repository.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Issued {
  cert: string
  key: string
}

export interface TestPki {
  ca: string
  issue: (name: string, subject: string, subjectAltName: string) => Issued
  rogueCa: string
  issueRogue: (name: string, subject: string, subjectAltName: string) => Issued
  dispose: () => void
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'l2tp-ipsec-pki-'))
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const makeCa = (name: string, subject: string) => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '3650', '-subj', subject, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    return readFileSync(join(dir, `${name}.pem`), 'utf8')
  }
  const issuer = (ca: string) => (name: string, subject: string, subjectAltName: string): Issued => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject)
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${subjectAltName}\nbasicConstraints=CA:FALSE\n`)
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '825', '-extfile', `${name}.ext`)
    return { cert: readFileSync(join(dir, `${name}.pem`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') }
  }
  const ca = makeCa('ca', '/CN=l2tp-ipsec test CA')
  const rogueCa = makeCa('rogue', '/CN=somebody else')
  return { ca, issue: issuer('ca'), rogueCa, issueRogue: issuer('rogue'), dispose: () => rmSync(dir, { recursive: true, force: true }) }
}
