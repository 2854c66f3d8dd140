// Command upstream-sim serves the simulated C1 and Aitronos APIs (package
// internal/upstreamsim) with its /_sim/ control API on a loopback address, for
// end-to-end tests and demos.
//
// It logs one line per request (method, path, status, duration) to stderr and
// never logs query strings, headers or bodies, so no secret or token reaches
// the log. It stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "upstream-sim:", err)
		os.Exit(1)
	}
}

// run parses args, serves until ctx is done, then shuts down. ready, if not
// nil, receives the base URL once the listener is bound.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(baseURL string)) error {
	fs := flag.NewFlagSet("upstream-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "loopback `address` to listen on (host:port; port 0 picks a free one)")
	addrFile := fs.String("addr-file", "", "write the bound base URL (http://host:port) to this `file` once listening; removed on exit")
	credTTL := fs.Duration("credential-ttl", upstreamsim.DefaultCredentialTTL, "lifetime of rotated C1 credentials; 0 = never expire")
	tokenTTL := fs.Duration("token-ttl", upstreamsim.DefaultTokenTTL, "lifetime of C1 access tokens")
	rateLimit := fs.Int("aitronos-rate-limit", upstreamsim.DefaultAitronosRateLimit, "Aitronos requests per minute per API key; 0 = off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *credTTL < 0 || *tokenTTL <= 0 || *rateLimit < 0 {
		return errors.New("-credential-ttl and -aitronos-rate-limit must not be negative, -token-ttl must be positive")
	}
	if err := checkLoopback(*listen); err != nil {
		return err
	}

	opts := upstreamsim.Options{
		CredentialTTL:     *credTTL,
		TokenTTL:          *tokenTTL,
		AitronosRateLimit: *rateLimit,
		Admin:             true,
	}
	if *credTTL == 0 {
		opts.CredentialTTL = upstreamsim.NoExpiry
	}
	if *rateLimit == 0 {
		opts.AitronosRateLimit = upstreamsim.RateLimitOff
	}
	sim := upstreamsim.New(opts)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "upstream-sim: ", log.LstdFlags|log.LUTC)
	srv := &http.Server{
		Handler:           logRequests(sim, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	baseURL := "http://" + ln.Addr().String()
	if *addrFile != "" {
		if err := writeFileAtomic(*addrFile, baseURL+"\n"); err != nil {
			ln.Close()
			return err
		}
		defer os.Remove(*addrFile)
	}
	logger.Printf("listening on %s", baseURL)
	if ready != nil {
		ready(baseURL)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// checkLoopback refuses listen addresses that are not loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-listen %q: refusing a non-loopback address (use 127.0.0.1, ::1 or localhost)", addr)
}

func writeFileAtomic(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".addr-*")
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
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

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs method, path (never the query), status and duration.
func logRequests(h http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
			if r.Context().Err() != nil {
				status = 499 // client went away before an answer
			}
		}
		logger.Printf("%s %q %d %s", r.Method, r.URL.Path, status, time.Since(start).Round(time.Microsecond))
	})
}
