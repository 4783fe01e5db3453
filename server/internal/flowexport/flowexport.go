// Package flowexport sends the flow records the server stores on to the
// tools security teams run: as OpenTelemetry log records over OTLP/HTTP
// (to a collector, with OpenTelemetry's own exporter and batching) and as
// JSON lines appended to a file or written to standard output (for a SIEM
// that tails them).
//
// Export never blocks a report on a slow collector: the OTLP exporter
// batches in the background and drops what its queue cannot hold (it
// logs so); the records are in the database either way.
package flowexport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Options say where records go; empty fields turn that export off.
type Options struct {
	// OTLPURL is the collector's OTLP/HTTP logs endpoint
	// (http://collector:4318; "/v1/logs" is added when the URL has no path).
	OTLPURL string
	// OTLPHeaders are sent with every export (an API key a collector wants).
	OTLPHeaders map[string]string
	// JSONL is a file to append a JSON line per record to, or "-" for
	// standard output.
	JSONL string
	// Every is the OTLP batch interval (default 5 s).
	Every time.Duration
}

// Exporter sends records where Options say.
type Exporter struct {
	provider *sdklog.LoggerProvider
	logger   otellog.Logger

	mu    sync.Mutex
	jsonl io.Writer
	file  *os.File
}

// New starts the exports Options ask for (nil when they ask for none).
func New(ctx context.Context, o Options) (*Exporter, error) {
	if o.OTLPURL == "" && o.JSONL == "" {
		return nil, nil
	}
	e := &Exporter{}
	if o.OTLPURL != "" {
		u, err := url.Parse(o.OTLPURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("flowexport: --flow-otlp-url %q: an http:// or https:// URL", o.OTLPURL)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/logs"
		}
		opts := []otlploghttp.Option{otlploghttp.WithEndpointURL(u.String()), otlploghttp.WithCompression(otlploghttp.GzipCompression)}
		if len(o.OTLPHeaders) > 0 {
			opts = append(opts, otlploghttp.WithHeaders(o.OTLPHeaders))
		}
		exp, err := otlploghttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("flowexport: OTLP exporter: %w", err)
		}
		every := o.Every
		if every <= 0 {
			every = 5 * time.Second
		}
		res := resource.NewSchemaless(semconv.ServiceName("wirefleet-server"))
		e.provider = sdklog.NewLoggerProvider(sdklog.WithResource(res),
			sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithExportInterval(every))))
		e.logger = e.provider.Logger("github.com/wirefleet/wirefleet/flows")
	}
	switch o.JSONL {
	case "":
	case "-":
		e.jsonl = os.Stdout
	default:
		f, err := os.OpenFile(o.JSONL, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("flowexport: --flow-jsonl: %w", err)
		}
		e.file, e.jsonl = f, f
	}
	return e, nil
}

// Export sends records (stored already, Reporter set). A failing JSON
// lines file is reported; OTLP errors are the exporter's to log.
func (e *Exporter) Export(ctx context.Context, recs []wire.FlowRecord) error {
	if e == nil {
		return nil
	}
	if e.logger != nil {
		now := time.Now()
		for _, r := range recs {
			var rec otellog.Record
			rec.SetTimestamp(r.End)
			rec.SetObservedTimestamp(now)
			rec.SetEventName("wirefleet.flow")
			rec.SetSeverity(otellog.SeverityInfo)
			if r.Verdict == wire.FlowDenied {
				rec.SetSeverity(otellog.SeverityWarn)
			}
			rec.SetBody(attribute.StringValue(fmt.Sprintf("%s %s:%d → %s:%d %s", r.Proto, r.Src, r.SrcPort, r.Dst, r.DstPort, r.Verdict)))
			rec.AddAttributes(Attributes(r)...)
			e.logger.Emit(ctx, rec)
		}
	}
	if e.jsonl != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		enc := json.NewEncoder(e.jsonl)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("flowexport: write JSON lines: %w", err)
			}
		}
	}
	return nil
}

// Attributes are a record's OTLP attributes: OpenTelemetry's network
// conventions where they exist (source.*, destination.*,
// network.transport), wirefleet.* for the rest.
func Attributes(r wire.FlowRecord) []attribute.KeyValue {
	kv := []attribute.KeyValue{
		attribute.String("network.transport", r.Proto),
		attribute.String("source.address", r.Src),
		attribute.Int("source.port", int(r.SrcPort)),
		attribute.String("destination.address", r.Dst),
		attribute.Int("destination.port", int(r.DstPort)),
		attribute.String("wirefleet.flow.verdict", r.Verdict),
		attribute.Int64("wirefleet.flow.tx_bytes", int64(r.TxBytes)),
		attribute.Int64("wirefleet.flow.tx_packets", int64(r.TxPackets)),
		attribute.Int64("wirefleet.flow.rx_bytes", int64(r.RxBytes)),
		attribute.Int64("wirefleet.flow.rx_packets", int64(r.RxPackets)),
		attribute.String("wirefleet.flow.start", r.Start.UTC().Format(time.RFC3339Nano)),
		attribute.String("wirefleet.flow.reporter", r.Reporter),
	}
	for _, o := range []struct{ k, v string }{{"wirefleet.flow.src_machine", r.SrcMachine}, {"wirefleet.flow.dst_machine", r.DstMachine},
		{"wirefleet.flow.path", r.Path}, {"wirefleet.flow.rule", r.Rule}} {
		if o.v != "" {
			kv = append(kv, attribute.String(o.k, o.v))
		}
	}
	return kv
}

// Close flushes what is batched and closes the file.
func (e *Exporter) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	var errs []error
	if e.provider != nil {
		errs = append(errs, e.provider.Shutdown(ctx))
	}
	if e.file != nil {
		errs = append(errs, e.file.Close())
	}
	return errors.Join(errs...)
}
