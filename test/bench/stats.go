package bench

import (
	"slices"
	"time"
)

// Dist is a sample of durations (latencies, round trips).
type Dist []time.Duration

// Percentile returns the p-th percentile (nearest rank, 0 < p <= 100) of d, or 0 for an empty d.
func (d Dist) Percentile(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Ms is d in milliseconds, for tables.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Us is d in microseconds, for tables.
func Us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// MiB is n bytes in MiB, for tables.
func MiB(n int64) float64 { return float64(n) / (1 << 20) }
