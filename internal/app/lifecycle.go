package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// service is one long-running part of the process.
type service struct {
	name string
	run  func(ctx context.Context) error
}

// runServices starts the services in order, downstream first, and stops
// them in reverse order, upstream first: when ctx is cancelled or any
// service fails, the last started is cancelled and awaited before the one
// before it, each within the shutdown budget.
func runServices(ctx context.Context, log *slog.Logger, budget time.Duration, services []service) error {
	type running struct {
		service
		cancel context.CancelFunc
		done   chan error
	}
	var started []*running
	failed := make(chan error, len(services))
	for _, s := range services {
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{service: s, cancel: cancel, done: make(chan error, 1)}
		go func() {
			err := r.run(sctx)
			if err != nil && sctx.Err() == nil {
				if !strings.HasPrefix(err.Error(), r.name+":") {
					err = fmt.Errorf("%s: %w", r.name, err)
				}
				failed <- err
			}
			r.done <- err
		}()
		started = append(started, r)
	}
	var first error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case first = <-failed:
		log.Error("a service failed; shutting down", "err", first)
	}
	deadline := time.Now().Add(budget)
	var errs []error
	if first != nil {
		errs = append(errs, first)
	}
	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("service stopped with error", "service", r.name, "err", err)
			} else {
				log.Info("service stopped", "service", r.name)
			}
		case <-time.After(time.Until(deadline)):
			errs = append(errs, fmt.Errorf("%s did not stop within the shutdown budget", r.name))
		}
	}
	return errors.Join(errs...)
}
