package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

// CallbackPath is where the gateway's own HTTP server receives OAuth redirects: set
// oauth_redirect_uri to the gateway's public URL with this path.
const CallbackPath = "/oauth/callback"

// Prompter shows the operator what to do during an OAuth login.
type Prompter interface {
	// ShowURL asks the operator to open the authorization URL (code flow).
	ShowURL(authURL string)
	// ShowUserCode asks the operator to open verificationURI and enter userCode (device flow);
	// complete, when not "", already carries the code.
	ShowUserCode(verificationURI, complete, userCode string, expiresIn time.Duration)
	// ReadRedirect returns what the operator pasted after an external redirect: the full
	// redirect URL, or just the code.
	ReadRedirect(ctx context.Context) (string, error)
}

// LogPrompter shows the operator what to do in the log (the gateway running as a service).
type LogPrompter struct{ Log *slog.Logger }

// ShowURL implements Prompter.
func (p LogPrompter) ShowURL(authURL string) {
	p.Log.Warn("OAuth login needed: open this URL in a browser and approve the bot", "url", authURL)
}

// ShowUserCode implements Prompter.
func (p LogPrompter) ShowUserCode(uri, complete, code string, expiresIn time.Duration) {
	p.Log.Warn("OAuth login needed: open the URL and enter the code", "url", uri, "code", code,
		"url_with_code", complete, "expires_in", expiresIn)
}

// ReadRedirect implements Prompter: a service has nobody to paste anything.
func (LogPrompter) ReadRedirect(context.Context) (string, error) {
	return "", errors.New("oauth_redirect_uri points elsewhere, so the code must be pasted: run `gateway login` in a terminal")
}

// TerminalPrompter talks to the operator on a terminal (`gateway login`).
type TerminalPrompter struct {
	Out io.Writer
	In  io.Reader
}

// ShowURL implements Prompter.
func (p TerminalPrompter) ShowURL(authURL string) {
	fmt.Fprintf(p.Out, "Open this URL in a browser and approve the bot:\n\n  %s\n\n", authURL)
}

// ShowUserCode implements Prompter.
func (p TerminalPrompter) ShowUserCode(uri, complete, code string, expiresIn time.Duration) {
	fmt.Fprintf(p.Out, "Open %s and enter the code\n\n  %s\n\n", uri, code)
	if complete != "" {
		fmt.Fprintf(p.Out, "(or open %s)\n", complete)
	}
	fmt.Fprintf(p.Out, "Waiting up to %s for the approval…\n", expiresIn.Round(time.Second))
}

// ReadRedirect implements Prompter.
func (p TerminalPrompter) ReadRedirect(ctx context.Context) (string, error) {
	fmt.Fprint(p.Out, "Paste the URL you were redirected to (or just the code) and press Enter:\n> ")
	line := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		s, err := bufio.NewReader(p.In).ReadString('\n')
		if strings.TrimSpace(s) != "" {
			line <- strings.TrimSpace(s)
			return
		}
		if err == nil {
			err = errors.New("nothing was pasted")
		}
		errc <- err
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case err := <-errc:
		return "", fmt.Errorf("failed to read the redirect: %w", err)
	case s := <-line:
		return s, nil
	}
}

func (o *oauthFlows) prompt() Prompter {
	if o.prompter != nil {
		return o.prompter
	}
	return LogPrompter{Log: o.log}
}

// receiver gets the authorization code of one code-flow login.
type receiver interface {
	RedirectURI() string
	RegistryKey() string // the redirect URI under which the registered client is remembered
	Native() bool        // a loopback redirect (application_type native)
	Wait(ctx context.Context) (string, error)
	Close()
}

type result struct {
	code string
	err  error
}

// receiver picks how the redirect comes back: the gateway's own server (in a running gateway,
// any URL with CallbackPath: its public URL), a loopback server (oauth_redirect_uri unset, or a
// loopback URL with its port), or the operator pasting it.
func (o *oauthFlows) receiver(state string) (receiver, error) {
	uri := o.bot.OAuthRedirectURI
	if uri == "" {
		return newLoopback("127.0.0.1", "0", "/callback", state, "")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("oauth_redirect_uri %q is not a URL: %w", uri, err)
	}
	if o.callbacks != nil && u.Path == CallbackPath {
		// The gateway's own server, even at a loopback URL (GATEWAY_PUBLIC_URL defaults to
		// http://<GATEWAY_LISTEN>): a loopback server of its own could not listen on that port.
		return o.callbacks.expect(uri, state), nil
	}
	host := u.Hostname()
	if host == "127.0.0.1" || host == "localhost" || host == "::1" {
		if u.Port() == "" {
			return nil, errors.New("a loopback oauth_redirect_uri must name its port; remove oauth_redirect_uri to use a random one")
		}
		if host == "localhost" {
			host = "127.0.0.1"
		}
		l, err := newLoopback(host, u.Port(), u.Path, state, uri)
		if err != nil && u.Path == CallbackPath {
			// A running gateway holds its own URL: the browser lands there, and its page says to
			// paste the URL here.
			o.log.Warn("cannot listen at oauth_redirect_uri (is the gateway running?); paste the URL the browser is sent to", "error", err)
			return o.pasted(uri, state)
		}
		return l, err
	}
	return o.pasted(uri, state)
}

// pasted is the receiver of an external redirect, refused before anything is registered or
// shown when nobody can paste (the gateway running as a service).
func (o *oauthFlows) pasted(uri, state string) (receiver, error) {
	p := o.prompt()
	if _, ok := p.(LogPrompter); ok {
		return nil, fmt.Errorf("oauth_redirect_uri %s is neither a loopback URL nor the gateway's own %s, so the code must be pasted: run `%s` in a terminal", uri, CallbackPath, loginCommand(o.bot))
	}
	return &pasted{uri: uri, state: state, prompt: p, log: o.log}, nil
}

// loopback is a one-shot HTTP server on a loopback address (RFC 8252 §7.3).
type loopback struct {
	uri, path, state, key string
	srv                   *http.Server
	done                  chan result
	once                  sync.Once
}

func newLoopback(host, port, path, state, uri string) (*loopback, error) {
	if path == "" {
		path = "/"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("failed to listen for the OAuth redirect on %s: %w", net.JoinHostPort(host, port), err)
	}
	l := &loopback{path: path, state: state, done: make(chan result, 1), uri: uri, key: uri}
	if uri == "" {
		l.uri = "http://" + ln.Addr().String() + path
		l.key = "http://127.0.0.1" + path // any port is the same client (RFC 8252 §7.3)
	}
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

func (l *loopback) RedirectURI() string { return l.uri }
func (l *loopback) RegistryKey() string { return l.key }
func (l *loopback) Native() bool        { return true }
func (l *loopback) Close()              { _ = l.srv.Close() }

func (l *loopback) Wait(ctx context.Context) (string, error) {
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-l.done:
		return r.code, r.err
	}
}

func (l *loopback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != l.path {
		http.NotFound(w, r)
		return
	}
	serveRedirect(w, r, l.state, func(res result) { l.once.Do(func() { l.done <- res }) })
}

// redirectParams reads an OAuth redirect's parameters: the form of a POST
// (response_mode=form_post), else the query.
func redirectParams(r *http.Request) url.Values {
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil && len(r.PostForm) > 0 {
			return r.PostForm
		}
	}
	return r.URL.Query()
}

// serveFragmentBridge answers a redirect without parameters: with response_mode=fragment the
// browser keeps them, and this page sends them back as a query.
func serveFragmentBridge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, `<!doctype html><title>Login</title><script>`+
		`var h=location.hash.slice(1);if(h){location.replace(location.pathname+"?"+h)}`+
		`</script><p>Completing the login…</p>`)
}

// refuseRedirect answers a redirect that cannot be used: 400, and the login keeps waiting.
func refuseRedirect(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, "<!doctype html><title>Refused</title><p>"+html.EscapeString(why)+"</p>")
}

// serveRedirect answers an OAuth redirect: the fragment bridge page when the parameters are in
// the fragment (a GET without any), a refusal for a wrong state (the login keeps waiting), else
// the result, handed to deliver.
func serveRedirect(w http.ResponseWriter, r *http.Request, state string, deliver func(result)) {
	q := redirectParams(r)
	if len(q) == 0 {
		if r.Method == http.MethodPost {
			refuseRedirect(w, "This redirect carries no parameters; it was refused.")
			return
		}
		serveFragmentBridge(w)
		return
	}
	code, err := checkRedirect(q, state)
	if errors.Is(err, errWrongState) {
		refuseRedirect(w, "This redirect does not belong to the login in progress (wrong state); it was refused.")
		return
	}
	deliver(result{code: code, err: err})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "<!doctype html><title>Login failed</title><p>"+html.EscapeString(err.Error())+"</p>")
		return
	}
	_, _ = io.WriteString(w, "<!doctype html><title>Login complete</title><p>The bot is logged in. You may close this window.</p>")
}

// CallbackMux receives OAuth redirects on the gateway's own HTTP server, at CallbackPath, and
// hands each to the login waiting for its state.
type CallbackMux struct {
	mu      sync.Mutex
	pending map[string]*muxLogin
}

// NewCallbackMux returns an empty CallbackMux.
func NewCallbackMux() *CallbackMux { return &CallbackMux{pending: map[string]*muxLogin{}} }

type muxLogin struct {
	mux   *CallbackMux
	uri   string
	state string
	done  chan result
	once  sync.Once
}

func (c *CallbackMux) expect(uri, state string) *muxLogin {
	l := &muxLogin{mux: c, uri: uri, state: state, done: make(chan result, 1)}
	c.mu.Lock()
	c.pending[state] = l
	c.mu.Unlock()
	return l
}

// ServeHTTP implements http.Handler. A redirect reaches a login only with that login's
// state, in the query or, for response_mode=form_post, in the form; anything else is a 400.
func (c *CallbackMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "an OAuth redirect is a GET or a POST", http.StatusMethodNotAllowed)
		return
	}
	q := redirectParams(r)
	if len(q) == 0 && r.Method != http.MethodPost {
		serveFragmentBridge(w)
		return
	}
	var l *muxLogin
	if state := q.Get("state"); state != "" {
		c.mu.Lock()
		l = c.pending[state]
		c.mu.Unlock()
	}
	if l == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "no login in progress has this state, so the redirect was refused here; if you run `gateway login`, paste this page's URL there\n")
		return
	}
	serveRedirect(w, r, l.state, func(res result) { l.once.Do(func() { l.done <- res }) })
}

func (l *muxLogin) RedirectURI() string { return l.uri }
func (l *muxLogin) RegistryKey() string { return l.uri }
func (l *muxLogin) Native() bool        { return false }
func (l *muxLogin) Close() {
	l.mux.mu.Lock()
	delete(l.mux.pending, l.state)
	l.mux.mu.Unlock()
}

func (l *muxLogin) Wait(ctx context.Context) (string, error) {
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-l.done:
		return r.code, r.err
	}
}

// pasted is an external redirect: the operator pastes the URL or the code.
type pasted struct {
	uri, state string
	prompt     Prompter
	log        *slog.Logger
}

func (p *pasted) RedirectURI() string { return p.uri }
func (p *pasted) RegistryKey() string { return p.uri }
func (p *pasted) Native() bool        { return false }
func (p *pasted) Close()              {}

func (p *pasted) Wait(ctx context.Context) (string, error) {
	s, err := p.prompt.ReadRedirect(ctx)
	if err != nil {
		return "", err
	}
	return parsePasted(s, p.state, p.log)
}

// parsePasted reads a pasted redirect URL (query or fragment parameters, state checked) or a
// bare code.
func parsePasted(s, state string, log *slog.Logger) (string, error) {
	s = strings.TrimSpace(s)
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		params := u.Query()
		if len(params) == 0 {
			if params, err = url.ParseQuery(u.Fragment); err != nil {
				return "", fmt.Errorf("the pasted URL has malformed parameters: %w", err)
			}
		}
		return checkRedirect(params, state)
	}
	if s == "" || strings.ContainsAny(s, " \t/?#&=") {
		return "", errors.New("paste the whole redirect URL, or only the code")
	}
	if log != nil {
		log.Warn("a bare code was pasted, so the login's state could not be checked; paste the whole URL to have it checked")
	}
	return s, nil
}

// openBrowser tries to open u in the desktop's browser (oauth_open_browser); failures are
// ignored, the URL is shown anyway.
func openBrowser(u string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if cmd.Start() == nil {
		go func() { _ = cmd.Wait() }()
	}
}
