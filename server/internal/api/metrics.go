package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	enrollments *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, db *store.DB, hub *netmap.Hub) *metrics {
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
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.requests, m.duration, m.enrollments,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wirefleet_longpolls_connected", Help: "Agents holding a network-map long-poll right now.",
		}, func() float64 { return float64(hub.Connected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wirefleet_netmap_version", Help: "Current network-map version.",
		}, func() float64 { return float64(hub.Version()) }),
		&machineCollector{db: db, desc: prometheus.NewDesc("wirefleet_machines", "Machines by state.", []string{"state"}, nil)},
	)
	return m
}

// machineCollector counts machines by state at scrape time.
type machineCollector struct {
	db   *store.DB
	desc *prometheus.Desc
}

func (c *machineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

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
