// Starts a real Sillage binary on free loopback ports (embedded default)
// and reads what it produced. Shared by the SDK compatibility tests.
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, openSync, readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import avro from 'avsc'
import kafkajs from 'kafkajs'
import SnappyCodec from 'kafkajs-snappy'

export const ADMIN_TOKEN = 'sillage-admin-dev'
export const DEMO_WRITE_KEY = 'sillage-demo'
export const RAW_TOPIC = 'sillage.events.raw'

const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = kafkajs

// franz-go compresses batches with snappy; kafkajs needs the codec.
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

// startSillage builds the binary unless SILLAGE_BIN names one, starts it on
// a fresh data directory and resolves once /readyz answers 200 on both the
// collector and the admin port.
export async function startSillage ({ readyTimeoutMs = 60_000 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sillage-sdktest-'))
  let bin = process.env.SILLAGE_BIN
  if (!bin) {
    bin = path.join(dir, 'sillage')
    execFileSync('go', ['build', '-o', bin, './cmd/sillage'], { cwd: repoRoot, stdio: 'inherit' })
  }
  const [broker, coll, admin] = [await freePort(), await freePort(), await freePort()]
  const s = {
    dir,
    broker: `127.0.0.1:${broker}`,
    collector: `http://127.0.0.1:${coll}`,
    admin: `http://127.0.0.1:${admin}`,
    logFile: path.join(dir, 'sillage.log')
  }
  const log = openSync(s.logFile, 'a')
  s.proc = spawn(bin, [
    '-data.dir', path.join(dir, 'data'),
    '-embedded.broker-addr', s.broker,
    '-collector.addr', `127.0.0.1:${coll}`,
    '-admin.addr', `127.0.0.1:${admin}`,
    '-sink.max-age', '1s'
  ], { stdio: ['ignore', log, log] })
  // Never leave it running behind a crashed test run.
  const killOnExit = () => s.proc.kill('SIGKILL')
  process.on('exit', killOnExit)
  s.exited = new Promise((resolve) => s.proc.on('exit', (code, signal) => resolve({ code, signal })))
  s.stop = async () => {
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      s.proc.kill('SIGTERM')
      const t = setTimeout(() => s.proc.kill('SIGKILL'), 15_000)
      await s.exited
      clearTimeout(t)
    }
    process.off('exit', killOnExit)
    if (!process.env.SILLAGE_KEEP) rmSync(dir, { recursive: true, force: true })
  }
  s.log = () => { try { return readFileSync(s.logFile, 'utf8') } catch { return '' } }

  const deadline = Date.now() + readyTimeoutMs
  for (;;) {
    if (s.proc.exitCode !== null) {
      throw new Error(`sillage exited with ${s.proc.exitCode} before it was ready:\n${s.log()}`)
    }
    const ok = await Promise.all([s.collector, s.admin].map((u) =>
      fetch(u + '/readyz').then((r) => r.ok, () => false)))
    if (ok.every(Boolean)) return s
    if (Date.now() > deadline) {
      await s.stop()
      throw new Error(`sillage not ready after ${readyTimeoutMs} ms:\n${s.log()}`)
    }
    await sleep(100)
  }
}

// metrics returns the admin port's Prometheus samples as {"name{labels}": value}.
export async function metrics (s) {
  const r = await fetch(s.admin + '/metrics', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })
  if (!r.ok) throw new Error(`GET /metrics: ${r.status} ${await r.text()}`)
  const out = {}
  for (const line of (await r.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out[line.slice(0, i)] = Number(line.slice(i + 1))
  }
  return out
}

// sumMetric adds every sample of a metric name (all label sets).
export function sumMetric (samples, name) {
  let n = 0
  for (const [k, v] of Object.entries(samples)) {
    if (k === name || k.startsWith(name + '{')) n += v
  }
  return n
}

// readRaw consumes the raw topic from its start until want(events) is true
// or timeoutMs passes, decoding each value (Confluent wire format: magic 0,
// schema id, Avro) with the schema Sillage's registry serves for that id.
export async function readRaw (s, want, { timeoutMs = 20_000 } = {}) {
  const kafka = new Kafka({ clientId: 'sdktest', brokers: [s.broker], logLevel: process.env.KAFKAJS_DEBUG ? logLevel.DEBUG : logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `sdktest-${process.pid}-${Date.now()}` })
  const types = new Map()
  const events = []
  let error
  consumer.on(consumer.events.CRASH, (e) => { error ??= e.payload.error })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic: RAW_TOPIC, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        try {
          const v = message.value
          if (v.length < 5 || v[0] !== 0) throw new Error(`record is not in the Confluent wire format: ${v.subarray(0, 8).toString('hex')}`)
          const id = v.readInt32BE(1)
          if (!types.has(id)) {
            const r = await fetch(`${s.admin}/schemas/ids/${id}`)
            if (!r.ok) throw new Error(`GET /schemas/ids/${id}: ${r.status}`)
            types.set(id, avro.Type.forSchema(JSON.parse((await r.json()).schema)))
          }
          const ev = types.get(id).fromBuffer(v.subarray(5))
          ev.key = message.key?.toString()
          events.push(ev)
        } catch (e) {
          error ??= e
        }
      }
    })
    const deadline = Date.now() + timeoutMs
    while (!error && !want(events) && Date.now() < deadline) await sleep(100)
  } finally {
    await consumer.disconnect()
  }
  if (error) throw error
  return events
}
