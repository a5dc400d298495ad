// Parley demo chat: the browser side of the seed's flow. The page signs in to "your server" (this demo), asks it
// for an Access Token at POST /token, and talks to Parley through the official twilio-chat 6.0.0 SDK
// (window.Twilio.Chat.Client), pointed at Parley with the only option that moves it: { twilsock: { uri } }.
//
// Plain JavaScript, no bundler. All user-provided text is rendered with textContent, never innerHTML.

const PAGE_SIZE = 30
const DEVICE_KEY = 'parley-demo-device-id'
const INIT_TIMEOUT_MS = 20000
const UPDATE_TOKEN_TIMEOUT_MS = 10000

const $ = (id) => {
  const el = document.getElementById(id)
  if (!el) throw new Error(`missing #${id}`)
  return el
}

const ui = {
  loading: $('loading'),
  connection: $('connection'),
  account: $('account'),
  accountName: $('account-name'),
  signOut: $('sign-out'),
  banner: $('banner'),
  bannerText: $('banner-text'),
  bannerRetry: $('banner-retry'),
  bannerClose: $('banner-close'),
  auth: $('auth'),
  signInForm: $('sign-in-form'),
  signInError: $('sign-in-error'),
  signUpForm: $('sign-up-form'),
  signUpError: $('sign-up-error'),
  chat: $('chat'),
  toggleSidebar: $('toggle-sidebar'),
  sidebar: $('sidebar'),
  myChannels: $('my-channels'),
  myChannelsEmpty: $('my-channels-empty'),
  publicChannels: $('public-channels'),
  publicChannelsEmpty: $('public-channels-empty'),
  refreshPublic: $('refresh-public'),
  newChannelForm: $('new-channel-form'),
  newChannelName: $('new-channel-name'),
  newChannelPrivate: $('new-channel-private'),
  newChannelError: $('new-channel-error'),
  channelTitle: $('channel-title'),
  leaveChannel: $('leave-channel'),
  noChannel: $('no-channel'),
  messagesPane: $('messages-pane'),
  loadOlder: $('load-older'),
  historyStatus: $('history-status'),
  messages: $('messages'),
  typing: $('typing'),
  composer: $('composer'),
  composerInput: $('composer-input'),
  people: $('people'),
  presenceNote: $('presence-note'),
  members: $('members'),
  addMemberForm: $('add-member-form'),
  addMemberName: $('add-member-name'),
  addMemberError: $('add-member-error'),
  announcer: $('announcer'),
}

/** Everything the page knows. `gen` increases with every new chat client, so late events of an old one are dropped. */
const state = {
  csrfToken: '',
  user: null,
  twilsockUrl: '',
  client: null,
  gen: 0,
  restartAttempts: 0,
  restartTimer: 0,
  refreshTimer: 0,
  /** When the current token was fetched (ms) and its lifetime (s), from POST /token. */
  tokenFetchedAt: 0,
  tokenTtl: 3600,
  /** sid → { channel, unread } for channels the user has joined. */
  joined: new Map(),
  /** Public channel descriptors the user has not joined. */
  publicList: [],
  current: null,
  /** Index of the oldest loaded message of the current channel, or null. */
  oldestIndex: null,
  hasOlder: false,
  loadingOlder: false,
  typingIdentities: new Set(),
  /** identity → { user, handler } subscribed for presence. */
  presence: new Map(),
  lastTypingSent: 0,
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'className') node.className = v
    else if (k === 'text') node.textContent = v
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) if (c) node.append(c)
  return node
}

function setConnection(text, kind = 'pending') {
  ui.connection.textContent = text
  ui.connection.dataset.state = kind
}

let bannerRetryAction = null
function showBanner(text, retry) {
  ui.bannerText.textContent = text
  ui.banner.hidden = false
  bannerRetryAction = retry ?? null
  ui.bannerRetry.hidden = !retry
}
function hideBanner() {
  ui.banner.hidden = true
  bannerRetryAction = null
}

/** Turn any failure into a sentence a person can act on. */
function plainError(err, fallback = 'Something went wrong. Please try again.') {
  if (!err) return fallback
  if (err.userMessage) return err.userMessage
  if (typeof navigator !== 'undefined' && navigator.onLine === false) {
    return 'You appear to be offline. Check your connection.'
  }
  // SDK request failures carry the HTTP status in `status` and the Twilio error in `body` ({ code, message }).
  const code = err.body?.code ?? err.code
  const status = err.status ?? err.body?.status
  if (code === 50404) return 'Already a member of that channel.'
  if (code === 50307 || code === 50309) return 'That name is already taken. Please pick another.'
  if (status === 403 || code === 50107 || code === 20403)
    return 'You are not allowed to do that here.'
  if (status === 404 || code === 50300) return 'That channel or message no longer exists.'
  if (status === 429) return 'Too many requests. Please wait a moment and try again.'
  if (status >= 500) return 'The chat service had a problem. Please try again.'
  return fallback
}

function announce(text) {
  const p = el('p', { text })
  ui.announcer.append(p)
  // Keep the live region short; screen readers only read additions.
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild?.remove()
}

function deviceId() {
  let id = null
  try {
    id = localStorage.getItem(DEVICE_KEY)
  } catch {
    /* storage blocked: fall back to a per-page id */
  }
  if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(16))
    id = btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    try {
      localStorage.setItem(DEVICE_KEY, id)
    } catch {
      /* ignore */
    }
  }
  return id
}

function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms)
    }),
  ])
}

function formatTime(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return ''
  const sameDay = date.toDateString() === new Date().toDateString()
  return sameDay
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })
}

function channelLabel(channel) {
  return channel.friendlyName || channel.uniqueName || 'Untitled channel'
}

// ---------------------------------------------------------------------------------------------------------------
// Talking to "your server"

class ApiError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
    this.userMessage = message
  }
}

async function api(method, path, body, { retried = false } = {}) {
  let res
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers:
        body === undefined
          ? {}
          : { 'content-type': 'application/json', 'x-csrf-token': state.csrfToken },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    })
  } catch {
    throw new ApiError(
      0,
      'network',
      'Cannot reach the demo server. Check your connection and try again.',
    )
  }
  let data = null
  try {
    data = await res.json()
  } catch {
    data = null
  }
  if (res.ok) return data
  // A stale CSRF token (another tab signed in or out): refresh it once and retry.
  if (res.status === 403 && data?.error === 'csrf' && !retried) {
    await loadSession()
    return api(method, path, body, { retried: true })
  }
  throw new ApiError(
    res.status,
    data?.error ?? 'http',
    data?.message ?? `The server answered ${res.status}.`,
  )
}

async function loadSession() {
  const data = await api('GET', '/api/session')
  state.csrfToken = data.csrfToken
  state.twilsockUrl = data.twilsockUrl
  return data
}

/** POST /token: a fresh Access Token for the signed-in user. A 401 means the demo session is gone. */
async function fetchToken() {
  try {
    const data = await api('POST', '/token', { deviceId: deviceId() })
    if (data.twilsockUrl) state.twilsockUrl = data.twilsockUrl
    state.tokenFetchedAt = Date.now()
    state.tokenTtl = typeof data.ttl === 'number' ? data.ttl : 3600
    return data.token
  } catch (err) {
    if (err.status === 401) {
      await endChat()
      showSignedOut('Your session has ended. Please sign in again.')
    }
    throw err
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Signed-out view

function showSignedOut(message) {
  state.user = null
  ui.loading.hidden = true
  ui.chat.hidden = true
  ui.account.hidden = true
  ui.auth.hidden = false
  setConnection('', 'idle')
  if (message) showBanner(message)
  ui.signInForm.querySelector('input')?.focus()
}

function showSignedIn(user) {
  state.user = user
  ui.loading.hidden = true
  ui.auth.hidden = true
  ui.chat.hidden = false
  ui.account.hidden = false
  ui.accountName.textContent = user.username
}

function bindAuthForm(form, errorEl, path) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const username = form.elements.namedItem('username').value.trim()
    const password = form.elements.namedItem('password').value
    errorEl.textContent = ''
    for (const input of form.querySelectorAll('input')) input.removeAttribute('aria-invalid')
    if (!username || !password) {
      errorEl.textContent = 'Please enter a user name and a password.'
      for (const input of form.querySelectorAll('input'))
        if (!input.value) input.setAttribute('aria-invalid', 'true')
      return
    }
    const button = form.querySelector('button[type=submit]')
    button.disabled = true
    try {
      const data = await api('POST', path, { username, password })
      state.csrfToken = data.csrfToken
      state.twilsockUrl = data.twilsockUrl
      form.reset()
      hideBanner()
      showSignedIn(data.user)
      // The form is gone: move focus to the start of the chat rather than leaving it on a hidden element.
      document.getElementById('main')?.focus()
      void startChat()
    } catch (err) {
      errorEl.textContent = plainError(err)
      form.querySelector('input[type=password]')?.focus()
    } finally {
      button.disabled = false
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// The chat client and its token lifecycle

function clientOptions() {
  return { twilsock: { uri: state.twilsockUrl }, logLevel: 'warn' }
}

/** Create a client, wire its events, and resolve once it is initialized (or reject with a plain-words error). */
function createClient(token) {
  const gen = ++state.gen
  const ChatClient = window.Twilio?.Chat?.Client
  if (!ChatClient)
    throw Object.assign(new Error('sdk'), {
      userMessage: 'The chat library did not load. Please reload the page.',
    })
  const client = new ChatClient(token, clientOptions())
  state.client = client
  const live =
    (fn) =>
    (...args) => {
      if (gen === state.gen) return fn(...args)
      return undefined
    }

  client.on('connectionStateChanged', live(onConnectionState))
  client.on('connectionError', live(onConnectionError))
  client.on(
    'tokenAboutToExpire',
    live(() => onTokenAboutToExpire(client)),
  )
  client.on(
    'tokenExpired',
    live(() => void recoverExpired(client)),
  )
  client.on('channelJoined', live(onChannelJoined))
  client.on('channelLeft', live(onChannelLeft))
  client.on('channelAdded', live(scheduleRefreshPublic))
  client.on('channelRemoved', live(onChannelRemoved))
  client.on('channelUpdated', live(onChannelUpdated))
  client.on('messageAdded', live(onMessageAdded))
  client.on('messageUpdated', live(onMessageUpdated))
  client.on('messageRemoved', live(onMessageRemoved))
  client.on('typingStarted', live(onTypingStarted))
  client.on('typingEnded', live(onTypingEnded))
  client.on('memberJoined', live(onMembersChanged))
  client.on('memberLeft', live(onMembersChanged))

  return withTimeout(
    new Promise((resolve, reject) => {
      client.on('stateChanged', (s) => {
        if (s === 'initialized') resolve(client)
        else if (s === 'failed')
          reject(Object.assign(new Error('failed'), { userMessage: initFailureText(client) }))
      })
    }),
    INIT_TIMEOUT_MS,
    'chat initialization',
  ).catch((err) => {
    if (!err.userMessage) err.userMessage = initFailureText(client)
    throw err
  })
}

function initFailureText(client) {
  if (client.connectionState === 'denied')
    return 'The chat service did not accept the access token.'
  return `Cannot connect to the chat service at ${state.twilsockUrl}. Is Parley running?`
}

/** Shut a client down without waiting on it: a client that never initialized may never finish shutting down. */
function discardClient(client) {
  clearTimeout(state.refreshTimer)
  state.refreshTimer = 0
  if (!client) return
  try {
    client.removeAllListeners()
  } catch {
    /* ignore */
  }
  client.shutdown().catch(() => {})
}

/** Connect (once at a time: concurrent callers share the attempt in progress). */
let starting = null
function startChat() {
  starting ??= connectChat().finally(() => {
    starting = null
  })
  return starting
}

async function connectChat() {
  clearTimeout(state.restartTimer)
  setConnection('Connecting…')
  let client = null
  try {
    const token = await fetchToken()
    if (!state.user) return
    client = await createClient(token)
  } catch (err) {
    if (!state.user) return
    discardClient(state.client)
    state.client = null
    state.gen++
    setConnection('Not connected', 'problem')
    scheduleRestart(plainError(err, 'Cannot connect to the chat service.'))
    return
  }
  state.restartAttempts = 0
  hideBanner()
  setConnection('Connected', 'connected')
  await renderAfterConnect(client)
}

/** Retry with capped exponential backoff and jitter; the banner offers an immediate retry. */
function scheduleRestart(reason) {
  clearTimeout(state.restartTimer)
  const attempt = state.restartAttempts++
  const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2)
  showBanner(`${reason} Trying again in ${Math.round(delay / 1000)} s.`, () => void restartChat())
  state.restartTimer = setTimeout(() => void restartChat(), delay)
}

/** Replace the client with a new one (new token), then re-render, keeping the open channel. */
function restartChat() {
  if (starting) return starting
  clearTimeout(state.restartTimer)
  const old = state.client
  state.client = null
  state.gen++
  discardClient(old)
  return startChat()
}

/**
 * tokenAboutToExpire: fetch a new token and hand it to the client. Parley warns a fixed lead time before `exp`, and at
 * once when a token is shorter than that; for such short tokens, refresh at 3/4 of the lifetime instead of looping.
 */
function onTokenAboutToExpire(client) {
  const age = Date.now() - state.tokenFetchedAt
  const ttlMs = state.tokenTtl * 1000
  if (age >= ttlMs / 2) {
    void refreshToken(client)
    return
  }
  if (state.refreshTimer) return
  state.refreshTimer = setTimeout(
    () => {
      state.refreshTimer = 0
      void refreshToken(client)
    },
    ttlMs * 0.75 - age,
  )
}

async function refreshToken(client) {
  if (client !== state.client) return
  try {
    const token = await fetchToken()
    if (client !== state.client) return
    await withTimeout(client.updateToken(token), UPDATE_TOKEN_TIMEOUT_MS, 'token update')
  } catch (err) {
    if (!state.user || client !== state.client) return
    // The old token is still valid for a little while: try again shortly while it lasts; if it runs out first,
    // tokenExpired recovers.
    console.warn('token refresh failed:', err?.message)
    const left = state.tokenFetchedAt + state.tokenTtl * 1000 - Date.now()
    if (left > 3000 && !state.refreshTimer) {
      state.refreshTimer = setTimeout(
        () => {
          state.refreshTimer = 0
          void refreshToken(client)
        },
        Math.min(5000, left / 2),
      )
    }
  }
}

/**
 * tokenExpired: the token ran out before it was replaced. A client that is still connected gets a new token through
 * updateToken; one whose connection the server has closed (the usual case) is shut down and replaced by a new client
 * with a fresh token, without reloading the page (updating a closed client can leave it offline: twilio-chat-demo-js#44).
 */
async function recoverExpired(client) {
  if (!state.user || client !== state.client) return
  setConnection('Reconnecting…')
  if (client.connectionState === 'connected') {
    try {
      const token = await fetchToken()
      await withTimeout(client.updateToken(token), UPDATE_TOKEN_TIMEOUT_MS, 'token update')
      if (client.connectionState === 'connected') {
        setConnection('Connected', 'connected')
        return
      }
    } catch {
      if (!state.user) return
    }
  }
  await restartChat()
}

function onConnectionState(s) {
  switch (s) {
    case 'connected':
      setConnection('Connected', 'connected')
      hideBanner()
      break
    case 'connecting':
      setConnection('Connecting…')
      break
    case 'disconnecting':
    case 'disconnected':
      setConnection('Disconnected', 'problem')
      break
    case 'denied':
      // The token was refused (usually expired): get a new one and a new client.
      setConnection('Reconnecting…', 'problem')
      void restartChat()
      break
    case 'error':
      setConnection('Connection failed', 'problem')
      scheduleRestart('The chat connection failed.')
      break
    default:
      break
  }
}

function onConnectionError(e) {
  if (e?.terminal) setConnection('Connection lost', 'problem')
}

async function endChat() {
  clearTimeout(state.restartTimer)
  const old = state.client
  state.client = null
  state.gen++
  discardClient(old)
  clearPresence()
  state.joined.clear()
  state.publicList = []
  state.current = null
  ui.myChannels.replaceChildren()
  ui.publicChannels.replaceChildren()
  closeChannelView()
}

// ---------------------------------------------------------------------------------------------------------------
// Channel lists

async function collectPages(paginator) {
  const items = [...paginator.items]
  let page = paginator
  while (page.hasNextPage) {
    page = await page.nextPage()
    items.push(...page.items)
  }
  return items
}

async function renderAfterConnect(client) {
  const previous = state.current?.sid
  state.joined.clear()
  state.current = null
  try {
    const subscribed = await collectPages(await client.getSubscribedChannels())
    for (const channel of subscribed) {
      if (channel.status === 'joined') state.joined.set(channel.sid, { channel, unread: 0 })
    }
    renderMyChannels()
    await Promise.all([...state.joined.values()].map((entry) => refreshUnread(entry)))
    await refreshPublic()
    const reopen = previous && state.joined.get(previous)
    if (reopen) await openChannel(reopen.channel)
    else closeChannelView()
  } catch (err) {
    showBanner(plainError(err, 'Could not load your channels.'), () => void restartChat())
  }
}

function renderMyChannels() {
  const entries = [...state.joined.values()].sort((a, b) =>
    channelLabel(a.channel).localeCompare(channelLabel(b.channel)),
  )
  ui.myChannels.replaceChildren(
    ...entries.map(({ channel, unread }) => {
      const isCurrent = state.current?.sid === channel.sid
      const label =
        unread > 0 ? `${channelLabel(channel)}, ${unread} unread` : channelLabel(channel)
      return el(
        'li',
        {},
        el(
          'button',
          {
            type: 'button',
            className: 'channel-button',
            'aria-current': isCurrent ? 'true' : undefined,
            'aria-label': label,
            onclick: () => void openChannel(channel),
          },
          el('span', {
            className: 'channel-name',
            text: `${channel.isPrivate ? '🔒 ' : '# '}${channelLabel(channel)}`,
          }),
          unread > 0
            ? el('span', {
                className: 'badge',
                text: unread > 99 ? '99+' : String(unread),
                'aria-hidden': 'true',
              })
            : null,
        ),
      )
    }),
  )
  ui.myChannelsEmpty.hidden = entries.length > 0
  const total = entries.reduce((n, e) => n + e.unread, 0)
  ui.toggleSidebar.textContent = total > 0 ? `Channels (${total} unread)` : 'Channels'
}

async function refreshUnread(entry) {
  try {
    const n = await entry.channel.getUnconsumedMessagesCount()
    // null = no read horizon yet: everything is unread.
    entry.unread = n ?? (await entry.channel.getMessagesCount())
  } catch {
    entry.unread = 0
  }
  if (state.current?.sid === entry.channel.sid) entry.unread = 0
  renderMyChannels()
}

let publicTimer = 0
function scheduleRefreshPublic() {
  clearTimeout(publicTimer)
  publicTimer = setTimeout(() => void refreshPublic(), 300)
}

/**
 * The SDK announces only channels you are in (or invited to); public channels that others create appear when the list
 * is read again: every 30 s while the page is visible, when it becomes visible, and on the Refresh button.
 */
const PUBLIC_REFRESH_MS = 30000
setInterval(() => {
  if (state.client && !document.hidden) void refreshPublic()
}, PUBLIC_REFRESH_MS)

async function refreshPublic() {
  const client = state.client
  if (!client) return
  try {
    const descriptors = await collectPages(await client.getPublicChannelDescriptors())
    if (client !== state.client) return
    state.publicList = descriptors.filter((d) => !state.joined.has(d.sid))
  } catch {
    state.publicList = []
  }
  renderPublic()
}

function renderPublic() {
  const list = [...state.publicList].sort((a, b) => channelLabel(a).localeCompare(channelLabel(b)))
  ui.publicChannels.replaceChildren(
    ...list.map((d) =>
      el(
        'li',
        {},
        el('span', { className: 'channel-name channel-button', text: `# ${channelLabel(d)}` }),
        el('button', {
          type: 'button',
          className: 'button small secondary',
          text: 'Join',
          'aria-label': `Join ${channelLabel(d)}`,
          onclick: (e) => void joinPublic(d, e.currentTarget),
        }),
      ),
    ),
  )
  ui.publicChannelsEmpty.hidden = list.length > 0
}

async function joinPublic(descriptor, button) {
  button.disabled = true
  try {
    const channel = await descriptor.getChannel()
    if (channel.status !== 'joined') await channel.join()
    state.joined.set(channel.sid, { channel, unread: 0 })
    state.publicList = state.publicList.filter((d) => d.sid !== channel.sid)
    renderPublic()
    await openChannel(channel)
  } catch (err) {
    button.disabled = false
    showBanner(plainError(err, 'Could not join that channel.'))
  }
}

function onChannelJoined(channel) {
  if (!state.joined.has(channel.sid)) {
    const entry = { channel, unread: 0 }
    state.joined.set(channel.sid, entry)
    void refreshUnread(entry)
  }
  state.publicList = state.publicList.filter((d) => d.sid !== channel.sid)
  renderMyChannels()
  renderPublic()
}

function onChannelLeft(channel) {
  state.joined.delete(channel.sid)
  if (state.current?.sid === channel.sid) closeChannelView()
  renderMyChannels()
  scheduleRefreshPublic()
}

function onChannelRemoved(channel) {
  state.joined.delete(channel.sid)
  state.publicList = state.publicList.filter((d) => d.sid !== channel.sid)
  if (state.current?.sid === channel.sid) {
    closeChannelView()
    showBanner('The channel you were in was deleted.')
  }
  renderMyChannels()
  renderPublic()
}

function onChannelUpdated({ channel, updateReasons }) {
  if (updateReasons.includes('friendlyName') || updateReasons.includes('uniqueName')) {
    if (state.current?.sid === channel.sid) ui.channelTitle.textContent = channelLabel(channel)
    renderMyChannels()
  }
  if (
    updateReasons.includes('status') &&
    channel.status === 'joined' &&
    !state.joined.has(channel.sid)
  ) {
    onChannelJoined(channel)
  }
  // Read in another tab or device: recount.
  const entry = state.joined.get(channel.sid)
  if (
    entry &&
    updateReasons.includes('lastConsumedMessageIndex') &&
    state.current?.sid !== channel.sid
  ) {
    void refreshUnread(entry)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The open channel

function closeChannelView() {
  state.current = null
  state.oldestIndex = null
  state.hasOlder = false
  state.typingIdentities.clear()
  clearPresence()
  ui.channelTitle.textContent = 'Pick a channel'
  ui.leaveChannel.hidden = true
  ui.noChannel.hidden = false
  ui.messagesPane.hidden = true
  ui.composer.hidden = true
  ui.people.hidden = true
  ui.messages.replaceChildren()
  ui.typing.textContent = ''
  renderMyChannels()
}

async function openChannel(channel) {
  const gen = state.gen
  state.current = channel
  state.oldestIndex = null
  state.hasOlder = false
  state.typingIdentities.clear()
  ui.typing.textContent = ''
  ui.channelTitle.textContent = channelLabel(channel)
  ui.leaveChannel.hidden = false
  ui.noChannel.hidden = true
  ui.messagesPane.hidden = false
  ui.composer.hidden = false
  ui.people.hidden = false
  ui.messages.replaceChildren()
  ui.historyStatus.textContent = 'Loading messages…'
  ui.sidebar.classList.remove('open')
  ui.toggleSidebar.setAttribute('aria-expanded', 'false')
  const entry = state.joined.get(channel.sid)
  if (entry) entry.unread = 0
  renderMyChannels()
  try {
    const page = await channel.getMessages(PAGE_SIZE)
    if (gen !== state.gen || state.current !== channel) return
    placeMessages(page.items)
    const first = ui.messages.firstElementChild
    state.oldestIndex = first ? Number(first.dataset.index) : null
    state.hasOlder = page.hasPrevPage && state.oldestIndex !== null && state.oldestIndex > 0
    updateHistoryControls()
    scrollToBottom()
    markRead()
    // A short first page leaves nothing to scroll: keep loading until the pane can scroll (or history ends).
    while (state.current === channel && state.hasOlder && !state.loadingOlder) {
      const pane = ui.messagesPane
      if (pane.scrollHeight > pane.clientHeight + 20) break
      await loadOlder()
    }
  } catch (err) {
    ui.historyStatus.textContent = ''
    showBanner(plainError(err, 'Could not load the messages of this channel.'))
  }
  void renderMembers(channel)
  ui.composerInput.focus()
}

function updateHistoryControls() {
  ui.loadOlder.hidden = !state.hasOlder
  ui.historyStatus.textContent = state.hasOlder
    ? ''
    : ui.messages.childElementCount
      ? 'Start of the conversation.'
      : 'No messages yet. Say hello!'
}

/** History paging: `getMessages(pageSize, anchor)` with the anchor just before the oldest loaded message. */
async function loadOlder() {
  const channel = state.current
  if (!channel || !state.hasOlder || state.loadingOlder || state.oldestIndex === null) return
  state.loadingOlder = true
  ui.historyStatus.textContent = 'Loading older messages…'
  const pane = ui.messagesPane
  const before = pane.scrollHeight - pane.scrollTop
  try {
    const oldest = state.oldestIndex
    const page = await channel.getMessages(PAGE_SIZE, oldest - 1)
    if (state.current !== channel) return
    // Older than what was shown when the request went out (a live message may have been placed meanwhile).
    const older = page.items.filter((m) => m.index < oldest)
    placeMessages(older)
    state.oldestIndex = Number(ui.messages.firstElementChild?.dataset.index ?? oldest)
    state.hasOlder = older.length > 0 && page.hasPrevPage && state.oldestIndex > 0
    // Keep the reader's place: the content grew above them.
    pane.scrollTop = pane.scrollHeight - before
    updateHistoryControls()
  } catch (err) {
    ui.historyStatus.textContent = plainError(err, 'Could not load older messages.')
  } finally {
    state.loadingOlder = false
  }
}

function isNearBottom() {
  const pane = ui.messagesPane
  return pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80
}

function scrollToBottom() {
  ui.messagesPane.scrollTop = ui.messagesPane.scrollHeight
}

function markRead() {
  const channel = state.current
  if (!channel || document.hidden || !isNearBottom()) return
  // Read up to the last message shown, not setAllMessagesConsumed(): that one fetches the newest message with
  // getMessages(1), and twilio-chat never fires messageAdded for a message it has already fetched. While the message
  // list's subscription is still catching up (just after joining), that newest message would never be shown.
  const last = ui.messages.lastElementChild
  const index = last ? Number(last.dataset.index) : null
  const consumed = channel.lastConsumedMessageIndex
  if (index !== null && (typeof consumed !== 'number' || index > consumed))
    channel.advanceLastConsumedMessageIndex(index).catch(() => {})
  const entry = state.joined.get(channel.sid)
  if (entry && entry.unread) {
    entry.unread = 0
    renderMyChannels()
  }
}

function messageKey(message) {
  return message.sid || `i${message.index}`
}

function renderMessage(message) {
  const mine = message.author === state.user?.username
  const time = message.dateCreated instanceof Date ? message.dateCreated : null
  const edited =
    message.dateUpdated instanceof Date &&
    time &&
    message.dateUpdated.getTime() - time.getTime() > 1000
  const li = el('li', {
    className: mine ? 'message mine' : 'message',
    'data-key': messageKey(message),
    'data-index': String(message.index),
  })
  const meta = el(
    'div',
    { className: 'message-meta' },
    el('span', { className: 'message-author', text: message.author || 'system' }),
    time ? el('time', { datetime: time.toISOString(), text: formatTime(time) }) : null,
    edited ? el('span', { text: '(edited)' }) : null,
  )
  if (mine) {
    meta.append(
      el(
        'span',
        { className: 'message-actions' },
        el('button', {
          type: 'button',
          className: 'button ghost small',
          text: 'Edit',
          'aria-label': 'Edit your message',
          onclick: () => startEdit(li, message),
        }),
        el('button', {
          type: 'button',
          className: 'button danger small',
          text: 'Delete',
          'aria-label': 'Delete your message',
          onclick: () => void deleteMessage(message),
        }),
      ),
    )
  }
  li.append(meta, el('p', { className: 'message-body', text: message.body ?? '' }))
  return li
}

/**
 * Show messages in index order, each once. The first page, older pages and live messages race (a message sent while
 * the first page loads arrives both live and in the page), so every path goes through here.
 */
function placeMessages(messages) {
  const placed = []
  for (const message of messages) {
    if (findMessageItem(message)) continue
    const li = renderMessage(message)
    const after = [...ui.messages.children].find(
      (item) => Number(item.dataset.index) > message.index,
    )
    ui.messages.insertBefore(li, after ?? null)
    placed.push(message)
  }
  return placed
}

function findMessageItem(message) {
  const key = messageKey(message)
  return [...ui.messages.children].find((li) => li.dataset.key === key)
}

function startEdit(li, message) {
  if (li.querySelector('form')) return
  const body = li.querySelector('.message-body')
  const id = `edit-${messageKey(message)}`
  const textarea = el('textarea', { id, rows: 2, maxlength: 4000 })
  textarea.value = message.body ?? ''
  const cancel = () => {
    form.remove()
    body.hidden = false
    li.querySelector('button')?.focus()
  }
  const form = el(
    'form',
    {
      className: 'message-edit',
      onsubmit: async (e) => {
        e.preventDefault()
        const text = textarea.value.trim()
        if (!text) return
        try {
          await message.updateBody(text)
          form.remove()
          body.hidden = false
        } catch (err) {
          showBanner(plainError(err, 'Could not save your edit.'))
        }
      },
    },
    el('label', { for: id, className: 'visually-hidden', text: 'Edit message' }),
    textarea,
    el(
      'div',
      {},
      el('button', { type: 'submit', className: 'button small', text: 'Save' }),
      el('button', {
        type: 'button',
        className: 'button secondary small',
        text: 'Cancel',
        onclick: cancel,
      }),
    ),
  )
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') cancel()
    else if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault()
      form.requestSubmit()
    }
  })
  body.hidden = true
  li.append(form)
  textarea.focus()
}

async function deleteMessage(message) {
  if (!window.confirm('Delete this message? This cannot be undone.')) return
  try {
    await message.remove()
  } catch (err) {
    showBanner(plainError(err, 'Could not delete the message.'))
  }
}

function onMessageAdded(message) {
  const sid = message.channel?.sid
  const current = state.current
  if (current && sid === current.sid) {
    const stick = isNearBottom() || message.author === state.user?.username
    if (!placeMessages([message]).length) return
    if (state.oldestIndex === null || message.index < state.oldestIndex)
      state.oldestIndex = message.index
    updateHistoryControls()
    if (stick) scrollToBottom()
    markRead()
    if (message.author !== state.user?.username)
      announce(`${message.author}: ${message.body ?? ''}`)
    state.typingIdentities.delete(message.author)
    renderTyping()
    return
  }
  const entry = sid ? state.joined.get(sid) : undefined
  if (entry && message.author !== state.user?.username) {
    entry.unread++
    renderMyChannels()
  }
}

function onMessageUpdated({ message }) {
  const li = findMessageItem(message)
  if (!li) return
  const editing = li.querySelector('form')
  const fresh = renderMessage(message)
  if (editing) return
  const hadFocus = li.contains(document.activeElement)
  li.replaceWith(fresh)
  if (hadFocus) fresh.querySelector('button')?.focus()
}

function onMessageRemoved(message) {
  const li = findMessageItem(message)
  if (!li) return
  const next = li.nextElementSibling ?? li.previousElementSibling
  const hadFocus = li.contains(document.activeElement)
  li.remove()
  if (hadFocus) (next?.querySelector('button') ?? ui.composerInput).focus()
  if (message.author !== state.user?.username)
    announce(`A message from ${message.author} was deleted.`)
  updateHistoryControls()
}

// Typing indicator

function onTypingStarted(member) {
  if (member.channel?.sid !== state.current?.sid || member.identity === state.user?.username) return
  state.typingIdentities.add(member.identity)
  renderTyping()
}

function onTypingEnded(member) {
  if (member.channel?.sid !== state.current?.sid) return
  state.typingIdentities.delete(member.identity)
  renderTyping()
}

function renderTyping() {
  const names = [...state.typingIdentities]
  ui.typing.textContent =
    names.length === 0
      ? ''
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length <= 3
          ? `${names.join(', ')} are typing…`
          : 'Several people are typing…'
}

// Members and presence

function clearPresence() {
  for (const { user, handler } of state.presence.values()) user.off('updated', handler)
  state.presence.clear()
  ui.members.replaceChildren()
}

async function renderMembers(channel) {
  const client = state.client
  if (!client || state.current !== channel) return
  let members
  try {
    members = await channel.getMembers()
  } catch {
    return
  }
  if (state.current !== channel) return
  let reachability = false
  try {
    reachability = client.reachabilityEnabled
  } catch {
    reachability = false
  }
  ui.presenceNote.hidden = reachability
  clearPresence()
  const rows = new Map()
  const sorted = [...members].sort((a, b) => String(a.identity).localeCompare(String(b.identity)))
  for (const member of sorted) {
    const identity = member.identity
    const dot = reachability ? el('span', { className: 'dot', 'aria-hidden': 'true' }) : null
    const status = el('span', { className: 'presence' })
    const row = el(
      'li',
      {},
      dot,
      el('span', { text: identity === state.user?.username ? `${identity} (you)` : identity }),
      status,
    )
    rows.set(identity, { dot, status })
    ui.members.append(row)
  }
  if (!reachability) return
  await Promise.all(
    sorted.map(async (member) => {
      try {
        const user = await member.getUser()
        if (state.current !== channel) return
        const paint = () => {
          const r = rows.get(member.identity)
          if (!r) return
          r.dot?.classList.toggle('online', !!user.online)
          r.status.classList.toggle('online', !!user.online)
          r.status.textContent = user.online ? 'online' : 'offline'
        }
        const handler = ({ updateReasons }) => {
          if (updateReasons.includes('online')) paint()
        }
        user.on('updated', handler)
        state.presence.set(member.identity, { user, handler })
        paint()
      } catch {
        /* presence is best-effort */
      }
    }),
  )
}

let membersTimer = 0
function onMembersChanged(member) {
  if (member.channel?.sid !== state.current?.sid) return
  clearTimeout(membersTimer)
  const channel = state.current
  membersTimer = setTimeout(() => void renderMembers(channel), 200)
}

// ---------------------------------------------------------------------------------------------------------------
// Wiring

function wire() {
  bindAuthForm(ui.signInForm, ui.signInError, '/api/signin')
  bindAuthForm(ui.signUpForm, ui.signUpError, '/api/signup')

  ui.signOut.addEventListener('click', async () => {
    ui.signOut.disabled = true
    await endChat()
    try {
      const data = await api('POST', '/api/signout', {})
      state.csrfToken = data.csrfToken
    } catch {
      /* the session is gone either way from this page's point of view */
    }
    ui.signOut.disabled = false
    showSignedOut()
    hideBanner()
  })

  ui.bannerClose.addEventListener('click', hideBanner)
  ui.bannerRetry.addEventListener('click', () => {
    const action = bannerRetryAction
    hideBanner()
    action?.()
  })

  ui.toggleSidebar.addEventListener('click', () => {
    const open = ui.sidebar.classList.toggle('open')
    ui.toggleSidebar.setAttribute('aria-expanded', String(open))
    if (open) ui.sidebar.querySelector('button, input')?.focus()
  })

  ui.newChannelForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    const name = ui.newChannelName.value.trim()
    ui.newChannelError.textContent = ''
    ui.newChannelName.removeAttribute('aria-invalid')
    if (!name) {
      ui.newChannelError.textContent = 'Please give the channel a name.'
      ui.newChannelName.setAttribute('aria-invalid', 'true')
      ui.newChannelName.focus()
      return
    }
    const client = state.client
    if (!client) {
      ui.newChannelError.textContent = 'Not connected to the chat service yet.'
      return
    }
    const button = ui.newChannelForm.querySelector('button')
    button.disabled = true
    try {
      const channel = await client.createChannel({
        friendlyName: name,
        isPrivate: ui.newChannelPrivate.checked,
      })
      await channel.join()
      state.joined.set(channel.sid, { channel, unread: 0 })
      ui.newChannelForm.reset()
      await openChannel(channel)
    } catch (err) {
      ui.newChannelError.textContent = plainError(err, 'Could not create the channel.')
    } finally {
      button.disabled = false
    }
  })

  ui.addMemberForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    const channel = state.current
    const identity = ui.addMemberName.value.trim()
    ui.addMemberError.textContent = ''
    if (!channel) return
    if (!identity) {
      ui.addMemberError.textContent = 'Please enter a user name.'
      ui.addMemberName.focus()
      return
    }
    const button = ui.addMemberForm.querySelector('button')
    button.disabled = true
    try {
      await channel.add(identity)
      ui.addMemberForm.reset()
      announce(`${identity} was added to the channel.`)
      void renderMembers(channel)
    } catch (err) {
      const code = err?.body?.code ?? err?.code
      ui.addMemberError.textContent =
        code === 50404
          ? 'That person is already in this channel.'
          : plainError(err, 'Could not add that person. Check the user name and try again.')
    } finally {
      button.disabled = false
    }
  })

  ui.leaveChannel.addEventListener('click', async () => {
    const channel = state.current
    if (!channel) return
    if (!window.confirm(`Leave ${channelLabel(channel)}?`)) return
    ui.leaveChannel.disabled = true
    try {
      await channel.leave()
      state.joined.delete(channel.sid)
      closeChannelView()
      scheduleRefreshPublic()
      ui.newChannelName.focus()
    } catch (err) {
      showBanner(plainError(err, 'Could not leave the channel.'))
    } finally {
      ui.leaveChannel.disabled = false
    }
  })

  ui.composer.addEventListener('submit', async (e) => {
    e.preventDefault()
    const channel = state.current
    const text = ui.composerInput.value.trim()
    if (!channel || !text) return
    ui.composerInput.value = ''
    try {
      await channel.sendMessage(text)
    } catch (err) {
      ui.composerInput.value = text
      showBanner(plainError(err, 'Your message was not sent. Please try again.'))
    }
  })

  ui.composerInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      ui.composer.requestSubmit()
    }
  })

  ui.composerInput.addEventListener('input', () => {
    const channel = state.current
    if (!channel || !ui.composerInput.value) return
    // The SDK also throttles; this keeps the page from calling it on every keystroke.
    const now = Date.now()
    if (now - state.lastTypingSent < 2000) return
    state.lastTypingSent = now
    channel.typing().catch(() => {})
  })

  ui.messagesPane.addEventListener('scroll', () => {
    if (ui.messagesPane.scrollTop < 60) void loadOlder()
    if (isNearBottom()) markRead()
  })
  ui.loadOlder.addEventListener('click', () => void loadOlder())

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return
    markRead()
    if (state.client) scheduleRefreshPublic()
  })
  ui.refreshPublic.addEventListener('click', async () => {
    ui.refreshPublic.disabled = true
    try {
      await refreshPublic()
    } finally {
      ui.refreshPublic.disabled = false
    }
  })

  window.addEventListener('online', () => {
    if (state.user && !state.client) void restartChat()
  })
}

async function boot() {
  wire()
  try {
    const session = await loadSession()
    if (session.user) {
      showSignedIn(session.user)
      await startChat()
    } else {
      showSignedOut()
    }
  } catch (err) {
    ui.loading.hidden = true
    showBanner(plainError(err, 'The demo server is not answering.'), () => location.reload())
  }
}

void boot()
