// Koishi test client for the gateway's Satori face (@satorijs/adapter-satori), driven by
// test/harness/satori.go.
//
// Configured only through environment variables:
//   KOISHI_PORT      port of Koishi's own server on 127.0.0.1 (GET /harness/healthz)
//   KOISHI_ENDPOINT  the gateway's Satori URL without /v1 (http://127.0.0.1:5700/satori)
//   KOISHI_TOKEN     the gateway's access token
//
// Commands: `/echo <text>` answers <text> (as text, not as elements); `/mention` answers a mention of the sender and " hi";
// `/reply` answers "replied" quoting the command; `/img` sends a 1x1 PNG; `/quote` (as a Matrix
// reply) answers "quoted: <text of the replied-to message>" read with message.get. A message that
// mentions the bot answers "to_me ok"; a message with an image answers
// "image <sha256 of the bytes behind its src> <src>". Log lines starting with "harness:" are what
// the Go side waits for.
const crypto = require('crypto')
const { Context, h } = require('koishi')

const load = (name) => {
  const m = require(name)
  return m.default ?? m
}

const env = process.env
const port = Number(env.KOISHI_PORT)
// A 1x1 PNG; test/e2e/messages_test.go holds the same bytes.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64')

const ctx = new Context({ prefix: ['/'] })
ctx.plugin(load('@koishijs/plugin-server'), { host: '127.0.0.1', port })
ctx.plugin(load('@koishijs/plugin-http'))
ctx.plugin(load('@satorijs/adapter-satori'), { endpoint: env.KOISHI_ENDPOINT, token: env.KOISHI_TOKEN })

ctx.on('login-added', (session) => {
  console.log(`harness: login added ${session.bot.selfId} status=${session.bot.status}`)
})
ctx.on('login-updated', (session) => {
  console.log(`harness: login ${session.bot.selfId} status=${session.bot.status}`)
})
ctx.on('bot-status-updated', (bot) => {
  console.log(`harness: bot ${bot.selfId} status=${bot.status}`)
})
ctx.on('message', async (session) => {
  console.log(`harness: message sn=${session.event.sn} from=${session.userId} channel=${session.channelId} ` +
    `direct=${session.isDirect} quote=${session.quote?.id ?? ''} content=${JSON.stringify(session.content)}`)
  for (const img of h.select(session.elements ?? [], 'img')) {
    const res = await fetch(img.attrs.src) // the gateway's signed link: no token
    const data = Buffer.from(await res.arrayBuffer())
    await session.send(`image ${crypto.createHash('sha256').update(data).digest('hex')} ${img.attrs.src}`)
  }
  const first = (session.elements ?? []).find((el) => el.type !== 'text' || el.attrs.content.trim())
  if (first?.type === 'at' && first.attrs.id === session.selfId) await session.send('to_me ok')
})
ctx.command('echo <text:text>').action((_, text) => {
  console.log(`harness: echo ${JSON.stringify(text)}`)
  return h.text(text) // a returned string would be read as message elements
})
ctx.command('mention').action(({ session }) => h('at', { id: session.userId }) + ' hi')
ctx.command('reply').action(({ session }) => h('quote', { id: session.messageId }) + 'replied')
ctx.command('img').action(() => h.image(PNG, 'image/png'))
ctx.command('quote').action(async ({ session }) => {
  if (!session.quote?.id) return h.text('quoted: (no reply)')
  const msg = await session.bot.getMessage(session.channelId, session.quote.id)
  return h.text('quoted: ' + h.parse(msg.content).map((el) => el.toString(true)).join(''))
})
ctx.server.get('/harness/healthz', (c) => { c.body = { pid: process.pid } })

ctx.start().then(() => console.log(`harness: listening on ${port}`))
