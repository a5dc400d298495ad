/**
 * The socket process (see `parent.ts`): owns the WebSocket connections the server hands it, does the WebSocket
 * handshake, framing and socket I/O with `ws`, and relays every message and event to the server as records over one
 * pipe (fd 3). Nothing here knows Twilsock: every protocol rule stays in the server.
 *
 * Started by {@link SocketPump} with `fork`; its first IPC message is the {@link PumpConfig}, then one `adopt`
 * message per connection, carrying the socket. It exits when the server goes away (IPC disconnect).
 *
 * @module
 */
import { Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { CLOSE_SLOW_CONSUMER, FramedSocket, sendWithin, WriteBatcher } from '../outbound.ts'
import { webSocketServerOptions } from '../upgrade.ts'
import { REC, RecordReader, RecordWriter, u16 } from './records.ts'
import type { AdoptMessage, PumpConfig } from './parent.ts'

interface Conn {
  ws: WebSocket
  socket: Socket
  /** Sends as whole frames on `socket`. */
  out: FramedSocket
  batcher: WriteBatcher
  closing: boolean
}

const BINARY = Buffer.from([1])
const TEXT = Buffer.from([0])

let config: PumpConfig | undefined
let wss: WebSocketServer | undefined
const conns = new Map<number, Conn>()

const pipe = new Socket({ fd: 3, readable: true, writable: true })
/**
 * Back-pressure towards the clients: while the server is not taking records (the pipe is backed up), no client
 * socket is read, as a busy server would not read them itself; TCP then holds the clients back.
 */
let backedUp = false
const out = new RecordWriter((chunk) => {
  if (pipe.write(chunk) || backedUp) return
  backedUp = true
  for (const c of conns.values()) c.socket.pause()
}, 'iteration')
pipe.on('drain', () => {
  backedUp = false
  for (const c of conns.values()) c.socket.resume()
})
// The server is gone or the pipe broke: nothing left to serve.
pipe.on('error', () => process.exit(1))
pipe.on('close', () => process.exit(0))
process.on('disconnect', () => process.exit(0))

const reader = new RecordReader((type, id, payload) => {
  const c = conns.get(id)
  if (c === undefined) return // closed meanwhile: its `closed` record is on its way
  switch (type) {
    case REC.send:
      if (c.ws.readyState !== 1 || c.closing) return
      if (!sendWithin(c.out, c.batcher, payload, config!.maxOutboundBytes)) {
        // A slow consumer: gone for the server at once; closed here, and cut if it does not finish within the grace.
        conns.delete(id)
        out.add(REC.slow, id)
        c.closing = true
        c.ws.close(CLOSE_SLOW_CONSUMER, 'slow consumer')
        setTimeout(() => c.ws.terminate(), config!.closeGraceMs).unref()
      }
      return
    case REC.ping:
      try {
        c.ws.ping()
      } catch {
        // Already closing: 'close' follows.
      }
      return
    case REC.close:
      c.closing = true
      try {
        c.ws.close(payload.readUInt16LE(0), payload.subarray(2).toString('utf8'))
      } catch {
        c.ws.terminate()
      }
      return
    case REC.terminate:
      c.ws.terminate()
      return
  }
})
pipe.on('data', (chunk: Buffer) => reader.push(chunk))

process.on('message', (msg: PumpConfig | AdoptMessage, handle: unknown) => {
  if (msg.type === 'config') {
    config = msg
    wss = new WebSocketServer(webSocketServerOptions(msg.maxPayloadBytes))
    return
  }
  if (msg.type !== 'adopt') return
  // A socket the peer reset while its handoff waited in the server arrives without a handle: report it gone.
  if (handle instanceof Socket) adopt(msg, handle)
  else out.add(REC.closed, msg.id, u16(1006))
})

function adopt(msg: AdoptMessage, socket: Socket): void {
  const id = msg.id
  let opened = false
  socket.on('error', () => {
    // Errors before or while upgrading (e.g. ECONNRESET); ws handles the rest.
  })
  // A handshake that fails (ws answers 400 and destroys the socket) or a peer gone before it completes.
  socket.once('close', () => {
    if (!opened) out.add(REC.closed, id, u16(1006))
  })
  const req = {
    method: msg.method,
    url: msg.url,
    headers: msg.headers,
    socket: { authorized: false, encrypted: false },
  }
  wss!.handleUpgrade(req as never, socket, Buffer.from(msg.head, 'base64'), (ws) => {
    opened = true
    const c: Conn = {
      ws,
      socket,
      out: new FramedSocket(ws, socket),
      batcher: new WriteBatcher(socket),
      closing: false,
    }
    conns.set(id, c)
    if (backedUp) socket.pause()
    ws.on('message', (data: Buffer, isBinary: boolean) =>
      out.add(REC.message, id, isBinary ? BINARY : TEXT, data),
    )
    ws.on('pong', () => out.add(REC.pong, id))
    ws.on('error', () => {
      // ws closes the socket itself after an error (e.g. 1009 for an oversize frame); 'close' reports it.
    })
    ws.on('close', (code: number) => {
      // Already reported when it was closed as a slow consumer.
      if (conns.get(id) !== c) return
      conns.delete(id)
      out.add(REC.closed, id, u16(code))
    })
    out.add(REC.open, id)
  })
}
