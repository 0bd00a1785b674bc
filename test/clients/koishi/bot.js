// Koishi test client for the gateway's OneBot v11 endpoints, driven by test/harness/koishi.go.
//
// Configured only through environment variables:
//   KOISHI_PORT      port of Koishi's own server on 127.0.0.1 (ws-reverse and http events)
//   KOISHI_PROTOCOL  ws | ws-reverse | http (koishi-plugin-adapter-onebot's protocol)
//   KOISHI_SELF_ID   the bot's OneBot v11 self_id
//   KOISHI_ENDPOINT  the gateway's v11 URL (ws: ws://…/onebot/v11/, http: http://…/onebot/v11)
//   KOISHI_TOKEN     the gateway's access token
//   KOISHI_SECRET    http: the secret that signs events (X-Signature)
//
// `/echo <text>` answers <text>. Log lines starting with "harness:" are what the Go side waits for.
const { Context } = require('koishi')

// The plugins are CommonJS builds of ES modules: the plugin is the default export.
const load = (name) => {
  const m = require(name)
  return m.default ?? m
}

const env = process.env
const port = Number(env.KOISHI_PORT)
const protocol = env.KOISHI_PROTOCOL

const ctx = new Context({ prefix: ['/'] })
ctx.plugin(load('@koishijs/plugin-server'), { host: '127.0.0.1', port })
ctx.plugin(load('@koishijs/plugin-http'))

// Workaround for the pinned versions, not for the gateway: adapter-onebot 6.9.4's http receiver
// reads the event from ctx.body, but @koishijs/plugin-server 3.2.9 parses it into
// ctx.request.body (ctx.body is the response), so every event would crash Koishi. This route runs
// first (same path, registered earlier) and hands the parsed event over.
if (protocol === 'http') {
  ctx.server.post('/onebot', (c, next) => {
    c.body = c.request.body
    return next()
  })
}

const bot = { protocol, selfId: env.KOISHI_SELF_ID, token: env.KOISHI_TOKEN }
if (protocol !== 'ws-reverse') bot.endpoint = env.KOISHI_ENDPOINT
if (protocol !== 'ws') bot.path = '/onebot'
if (protocol === 'http' && env.KOISHI_SECRET) bot.secret = env.KOISHI_SECRET
ctx.plugin(load('koishi-plugin-adapter-onebot'), bot)

ctx.on('login-updated', (session) => {
  console.log(`harness: login ${session.bot.selfId} status=${session.bot.status}`)
})
ctx.on('message', (session) => {
  console.log(`harness: message from=${session.userId} channel=${session.channelId} content=${JSON.stringify(session.content)}`)
})
ctx.command('echo <text:text>').action((_, text) => {
  console.log(`harness: echo ${JSON.stringify(text)}`)
  return text
})
ctx.server.get('/harness/healthz', (c) => { c.body = { pid: process.pid } })

ctx.start().then(() => console.log(`harness: listening on ${port}`))
