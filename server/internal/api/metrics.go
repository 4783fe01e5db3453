package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/presence"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	enrollments *prometheus.CounterVec
	updates     *prometheus.CounterVec
	dbErrors    *prometheus.CounterVec
	delivery    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, db fleet.Reader, hub *netmap.Hub, pres *presence.Tracker) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirefleet_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wirefleet_http_request_duration_seconds", Help: "HTTP request latency by route (long-polls excluded).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirefleet_enrollments_total", Help: "Enrollment attempts by result code (ok or an error code).",
		}, []string{"result"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirefleet_agent_updates_total", Help: "Self-update outcomes agents reported: ok, rolled_back (the new version failed its trial) or failed (refused before install).",
		}, []string{"outcome"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirefleet_db_errors_total", Help: "Database operations that failed, by what was being done (request: an API request answered 500; health: a batch of health reports not written).",
		}, []string{"op"}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wirefleet_netmap_delivery_seconds",
			Help:    "From a network-map change (enrollment, revocation, policy…) being applied to a held poll answering with it: how long agents wait to learn of changes.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, o := range []string{"ok", "rolled_back", "failed"} {
		m.updates.WithLabelValues(o)
	}
	for _, op := range []string{"request", "health"} {
		m.dbErrors.WithLabelValues(op)
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.requests, m.duration, m.enrollments, m.updates, m.dbErrors, m.delivery,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wirefleet_longpolls_connected", Help: "Agents holding a network-map long-poll right now.",
		}, func() float64 { return float64(pres.Connected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wirefleet_netmap_version", Help: "Current network-map version.",
		}, func() float64 { return float64(hub.Version()) }),
		&machineCollector{db: db, pres: pres, desc: prometheus.NewDesc("wirefleet_machines", "Machines by state.", []string{"state"}, nil),
			offline: prometheus.NewDesc("wirefleet_machines_offline", "Active machines not heard from in the last 2 minutes (no long-poll, no report).", nil, nil)},
	)
	return m
}

// machineCollector counts machines by state at scrape time.
type machineCollector struct {
	db            fleet.Reader
	pres          *presence.Tracker
	desc, offline *prometheus.Desc
}

func (c *machineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.offline }

func (c *machineCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.db.CountMachines(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
	quiet, err := c.db.QuietMachines(ctx, time.Now().Add(-2*time.Minute))
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.offline, err)
		return
	}
	n := 0
	for _, id := range quiet {
		if !c.pres.HeardSince(id, time.Now().Add(-presence.OnlineWithin)) {
			n++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.offline, prometheus.GaugeValue, float64(n))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (long-polls
// extend their write deadline through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts requests by route pattern (never by raw path, which
// would let clients mint label values).
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		if r.URL.Path != "/api/v1/agent/netmap" {
			s.m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	})
}
