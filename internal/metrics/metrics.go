// Package metrics holds the gateway's Prometheus metrics: one registry per process, served at
// /metrics, and read back per bot (BotCounters) by get_status and the admin page.
//
// Labels are bounded: bot (configured bots), event type (model kinds), transport (a fixed set),
// action (the action table, else "unknown"), retcode (the protocols' codes), homeserver endpoint
// (a template from a fixed vocabulary, never a raw path), status (HTTP codes). Every method is
// safe on a nil *Metrics, which records nothing.
package metrics

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "onebot_gateway"

// Transports of events out.
const (
	TransportWS        = "ws"         // forward WebSocket
	TransportReverseWS = "reverse_ws" // reverse WebSocket
	TransportWebhook   = "webhook"    // v12 webhook / v11 HTTP POST
	TransportLatest    = "latest"     // get_latest_events polling
)

// States a bot's sync can be in (model.BotState); sync_state is 1 for the current one.
var States = []string{"starting", "syncing", "backoff", "offline", "stopped"}

// Metrics are the process's metrics.
type Metrics struct {
	reg *prometheus.Registry

	syncState      *prometheus.GaugeVec
	syncLag        *prometheus.HistogramVec
	eventsIn       *prometheus.CounterVec
	eventsOut      *prometheus.CounterVec
	actions        *prometheus.HistogramVec
	hsRequests     *prometheus.CounterVec
	hsRateLimited  *prometheus.CounterVec
	tokenRefreshes *prometheus.CounterVec
	slowClients    *prometheus.CounterVec
	prunePasses    *prometheus.CounterVec
	fleet          *Fleet

	mu      sync.Mutex
	sources []*source // read at each scrape (Collect)
	desc    map[string]*prometheus.Desc

	// hot keeps the series recorded per event (events in and out, sync lag) by their labels, so
	// that an event does not hash its labels and look them up in the vectors again. ForgetBot
	// drops a bot's.
	hotMu sync.RWMutex
	hot   map[hotKey]hotSeries
}

// hotSeries is a counter (events in and out) or an observer (sync lag).
type hotSeries struct {
	c prometheus.Counter
	o prometheus.Observer
}

// hotKey names one series of the per-event metrics.
type hotKey struct {
	vec   uint8 // hotEventsIn, hotEventsOut, hotSyncLag
	bot   string
	label string // kind, transport, or ""
}

const (
	hotEventsIn uint8 = iota
	hotEventsOut
	hotSyncLag
)

// series is the series k of the per-event metrics, from hot or else made by mk and kept.
func (m *Metrics) series(k hotKey, mk func() hotSeries) hotSeries {
	m.hotMu.RLock()
	hs, ok := m.hot[k]
	m.hotMu.RUnlock()
	if ok {
		return hs
	}
	hs = mk()
	m.hotMu.Lock()
	if m.hot == nil {
		m.hot = map[hotKey]hotSeries{}
	}
	m.hot[k] = hs
	m.hotMu.Unlock()
	return hs
}

// Sample is one value a source reports at scrape time: counters and gauges whose source of
// truth lives elsewhere (e2ee counters, OTK count, outbox depth, the hub's process counters).
type Sample struct {
	Name   string // without the namespace, e.g. "e2ee_events_total"
	Help   string
	Gauge  bool              // else a counter
	Labels map[string]string // e.g. {"bot": "@a:hs", "kind": "held"}; the same keys for a Name
	Value  float64
}

// New returns metrics registered in a registry of their own, with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), desc: map[string]*prometheus.Desc{}}
	m.syncState = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "sync_state",
		Help: "1 for the bot's current sync state (starting, syncing, backoff, offline, stopped), 0 for the others."}, []string{"bot", "state"})
	m.syncLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "sync_lag_seconds",
		Help:    "Age of an event (now - origin_server_ts) when the sync loop hands it to the OneBot side.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}}, []string{"bot"})
	m.eventsIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "events_in_total",
		Help: "Events from Matrix handed to the OneBot side, by kind (message, member, delete, reaction, ...)."}, []string{"bot", "type"})
	m.eventsOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "events_out_total",
		Help: "Events queued for OneBot clients (one per receiving connection or outbox), by transport."}, []string{"bot", "transport"})
	m.actions = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "action_duration_seconds",
		Help:    "OneBot action calls and their latency, by protocol version, action (\"unknown\" for actions not in the table) and retcode.",
		Buckets: prometheus.DefBuckets}, []string{"bot", "version", "action", "retcode"})
	m.hsRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "homeserver_requests_total",
		Help: "Requests to the homeserver by method, endpoint template and HTTP status (\"error\" when no answer came)."}, []string{"bot", "method", "endpoint", "status"})
	m.hsRateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "homeserver_rate_limited_total",
		Help: "Homeserver answers 429 (M_LIMIT_EXCEEDED)."}, []string{"bot"})
	m.tokenRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "token_refreshes_total",
		Help: "Access token refreshes, by result (ok, failed)."}, []string{"bot", "result"})
	m.slowClients = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "slow_client_total",
		Help: "A bot's events that a OneBot connection could not take because its queue was full (result dropped), and the connections closed for it (result disconnected)."}, []string{"bot", "result"})
	m.prunePasses = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "retention_passes_total",
		Help: "Passes of the retention pruner, by result (ok, failed: the log says what failed; expired data stays until a pass succeeds)."}, []string{"result"})
	m.reg.MustRegister(m.syncState, m.syncLag, m.eventsIn, m.eventsOut,
		m.actions, m.hsRequests, m.hsRateLimited, m.tokenRefreshes, m.slowClients, m.prunePasses, sourceCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.fleet = newFleet(m.reg)
	return m
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the metrics are in (for tests and further collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SyncState records a bot's current sync state.
func (m *Metrics) SyncState(bot, state string) {
	if m == nil || bot == "" {
		return
	}
	for _, s := range States {
		v := 0.0
		if s == state {
			v = 1
		}
		m.syncState.WithLabelValues(bot, s).Set(v)
	}
}

// EventIn counts an event handed over by a bot's sync loop, and its age then.
func (m *Metrics) EventIn(bot, kind string, ts time.Time) {
	if m == nil {
		return
	}
	m.series(hotKey{hotEventsIn, bot, kind}, func() hotSeries { return hotSeries{c: m.eventsIn.WithLabelValues(bot, kind)} }).c.Inc()
	if !ts.IsZero() {
		lag := m.series(hotKey{hotSyncLag, bot, ""}, func() hotSeries { return hotSeries{o: m.syncLag.WithLabelValues(bot)} })
		lag.o.Observe(max(0, time.Since(ts).Seconds()))
	}
}

// EventOut counts an event queued for one connection or outbox of a transport.
func (m *Metrics) EventOut(bot, transport string) { m.EventsOut(bot, transport, 1) }

// EventsOut counts an event queued for n connections of a transport: one look-up of the series
// for all of them (a fan-out to 100 clients looked it up 100 times per event).
func (m *Metrics) EventsOut(bot, transport string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.series(hotKey{hotEventsOut, bot, transport}, func() hotSeries { return hotSeries{c: m.eventsOut.WithLabelValues(bot, transport)} }).c.Add(float64(n))
}

// SlowClient counts a bot's event dropped for a connection whose queue was full, and whether
// that closed the connection.
func (m *Metrics) SlowClient(bot string, disconnected bool) {
	if m == nil || bot == "" {
		return
	}
	m.slowClients.WithLabelValues(bot, "dropped").Inc()
	if disconnected {
		m.slowClients.WithLabelValues(bot, "disconnected").Inc()
	}
}

// Action records one action call. action must come from the action table (else "unknown").
func (m *Metrics) Action(bot string, version int, action string, retcode int, d time.Duration) {
	if m == nil {
		return
	}
	m.actions.WithLabelValues(bot, strconv.Itoa(version), action, strconv.Itoa(retcode)).Observe(d.Seconds())
}

// TokenRefresh counts a refresh of a bot's access token; err is its failure.
func (m *Metrics) TokenRefresh(bot string, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.tokenRefreshes.WithLabelValues(bot, result).Inc()
}

// PrunePass counts a pass of the retention pruner; err is its failure.
func (m *Metrics) PrunePass(err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.prunePasses.WithLabelValues(result).Inc()
}

// source is a function read at every scrape; a pointer, so that it can be removed.
type source struct{ f func() []Sample }

// AddSource adds a function read at every scrape (and by BotCounters); remove takes it out
// again (a bot removed while the gateway runs).
func (m *Metrics) AddSource(f func() []Sample) (remove func()) {
	if m == nil {
		return func() {}
	}
	src := &source{f: f}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources = append(m.sources, src)
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.sources = slices.DeleteFunc(m.sources, func(x *source) bool { return x == src })
	}
}

// ForgetBot drops every series labelled with bot: a bot removed while the gateway runs leaves
// no stale sync_state (or counters) behind.
func (m *Metrics) ForgetBot(bot string) {
	if m == nil || bot == "" {
		return
	}
	l := prometheus.Labels{"bot": bot}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.syncState, m.syncLag, m.eventsIn, m.eventsOut, m.actions, m.hsRequests, m.hsRateLimited, m.tokenRefreshes, m.slowClients,
	} {
		v.DeletePartialMatch(l)
	}
	m.hotMu.Lock()
	for k := range m.hot {
		if k.bot == bot {
			delete(m.hot, k)
		}
	}
	m.hotMu.Unlock()
}

// sourceCollector turns the sources' samples into metrics at scrape time.
type sourceCollector struct{ m *Metrics }

func (sourceCollector) Describe(chan<- *prometheus.Desc) {} // unchecked: the set of names depends on the sources

func (c sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.m.samples() {
		keys := make([]string, 0, len(s.Labels))
		for k := range s.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = s.Labels[k]
		}
		typ := prometheus.CounterValue
		if s.Gauge {
			typ = prometheus.GaugeValue
		}
		if mt, err := prometheus.NewConstMetric(c.m.descOf(s, keys), typ, s.Value, vals...); err == nil {
			ch <- mt
		}
	}
}

func (m *Metrics) samples() []Sample {
	m.mu.Lock()
	sources := append([]*source(nil), m.sources...)
	m.mu.Unlock()
	var out []Sample
	for _, src := range sources {
		out = append(out, src.f()...)
	}
	return out
}

func (m *Metrics) descOf(s Sample, keys []string) *prometheus.Desc {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.desc[s.Name]
	if d == nil {
		d = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", s.Name), s.Help, keys, nil)
		m.desc[s.Name] = d
	}
	return d
}

// BotCounters returns every series of the bot as "name{label=value,…}" → value, without the
// namespace and the bot label (histograms as name_count and name_sum): what get_status and the
// admin page show. Series of no bot are left out.
func (m *Metrics) BotCounters(bot string) map[string]float64 {
	out := map[string]float64{}
	if m == nil || bot == "" {
		return out
	}
	families, _ := m.reg.Gather()
	for _, f := range families {
		name, ok := strings.CutPrefix(f.GetName(), namespace+"_")
		if !ok {
			continue
		}
		for _, mt := range f.GetMetric() {
			key, ok := seriesKey(name, mt.GetLabel(), bot)
			if !ok {
				continue
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = mt.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = mt.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				k2, _ := seriesKey(name+"_count", mt.GetLabel(), bot)
				out[k2] = float64(mt.GetHistogram().GetSampleCount())
				k3, _ := seriesKey(name+"_sum", mt.GetLabel(), bot)
				out[k3] = mt.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func seriesKey(name string, labels []*dto.LabelPair, bot string) (string, bool) {
	mine := false
	key := name
	first := true
	for _, l := range labels {
		if l.GetName() == "bot" {
			mine = l.GetValue() == bot
			continue
		}
		if first {
			key += "{"
			first = false
		} else {
			key += ","
		}
		key += l.GetName() + "=" + strconv.Quote(l.GetValue())
	}
	if !first {
		key += "}"
	}
	return key, mine
}
