package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Fleet are the metrics of how bots move between the gateways sharing them (GATEWAY_CLUSTER)
// and of the start gate (GATEWAY_START_CONCURRENCY). Every method is safe on a nil *Fleet.
type Fleet struct {
	handovers prometheus.Counter
	takeovers prometheus.Counter
	lockLost  prometheus.Counter
	bots      prometheus.Gauge
	gateWait  prometheus.Histogram
	waiting   prometheus.Gauge
}

func newFleet(reg *prometheus.Registry) *Fleet {
	f := &Fleet{
		handovers: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "cluster_handovers_total",
			Help: "Bots this gateway gave up cleanly (to even out the share, at a stop, or no longer configured): another gateway takes them at once."}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "cluster_takeovers_total",
			Help: "Bots this gateway took over from another that stopped saying it runs them (it died or lost its database connection)."}),
		lockLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "cluster_lock_lost_total",
			Help: "Times this gateway's ownership connection to the database ended, so that it stopped every bot it ran."}),
		bots: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "cluster_bots",
			Help: "Bots this gateway runs now, of those the gateways sharing the database share."}),
		gateWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "start_gate_wait_seconds",
			Help:    "How long a bot's start waited for one of the GATEWAY_START_CONCURRENCY slots (after its GATEWAY_START_JITTER).",
			Buckets: []float64{.001, .01, .1, .5, 1, 2.5, 5, 10, 30, 60, 300}}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "start_gate_waiting",
			Help: "Bot starts waiting now for a GATEWAY_START_CONCURRENCY slot."}),
	}
	reg.MustRegister(f.handovers, f.takeovers, f.lockLost, f.bots, f.gateWait, f.waiting)
	return f
}

// Fleet returns the metrics of moving and starting bots (nil on a nil *Metrics).
func (m *Metrics) Fleet() *Fleet {
	if m == nil {
		return nil
	}
	return m.fleet
}

// HandedOver counts n bots given up cleanly.
func (f *Fleet) HandedOver(n int) {
	if f != nil && n > 0 {
		f.handovers.Add(float64(n))
	}
}

// TookOver counts a bot taken over from a gateway that stopped running it without giving it up.
func (f *Fleet) TookOver() {
	if f != nil {
		f.takeovers.Inc()
	}
}

// LostLock counts a lost ownership connection (every bot stopped).
func (f *Fleet) LostLock() {
	if f != nil {
		f.lockLost.Inc()
	}
}

// Running sets how many bots the cluster gave this gateway.
func (f *Fleet) Running(n int) {
	if f != nil {
		f.bots.Set(float64(n))
	}
}

// GateWaiting marks a start waiting for a slot of the start gate; done records how long it
// waited (whether it got the slot or gave up).
func (f *Fleet) GateWaiting() (done func()) {
	if f == nil {
		return func() {}
	}
	f.waiting.Inc()
	start := time.Now()
	return func() {
		f.waiting.Dec()
		f.gateWait.Observe(time.Since(start).Seconds())
	}
}

// Value returns the value of the process's metric name (without the namespace) summed over its
// series: a counter's or gauge's value, a histogram's count of observations; 0 when it has none.
// For tests and diagnostics.
func (m *Metrics) Value(name string) float64 {
	if m == nil {
		return 0
	}
	families, err := m.reg.Gather()
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != namespace+"_"+name {
			continue
		}
		for _, s := range f.GetMetric() {
			switch {
			case s.Counter != nil:
				sum += s.Counter.GetValue()
			case s.Gauge != nil:
				sum += s.Gauge.GetValue()
			case s.Histogram != nil:
				sum += float64(s.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}
