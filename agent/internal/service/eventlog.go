package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/kardianos/service"
)

// eventHandler forwards records to the service manager's system logger
// (the Windows Event Log) as well as to the next handler.
type eventHandler struct {
	next  slog.Handler
	sys   service.Logger
	attrs []slog.Attr
}

func (h *eventHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *eventHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true }
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	switch {
	case r.Level >= slog.LevelError:
		_ = h.sys.Error(b.String())
	case r.Level >= slog.LevelWarn:
		_ = h.sys.Warning(b.String())
	case r.Level >= slog.LevelInfo:
		_ = h.sys.Info(b.String())
	}
	return h.next.Handle(ctx, r)
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &eventHandler{next: h.next.WithAttrs(as), sys: h.sys, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *eventHandler) WithGroup(name string) slog.Handler {
	return &eventHandler{next: h.next.WithGroup(name), sys: h.sys, attrs: h.attrs}
}
