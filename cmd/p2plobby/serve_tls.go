package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/p2plobby/p2plobby/internal/tlscert"
)

// certPoll is how often the certificate files are checked for changes.
const certPoll = 5 * time.Second

// tlsConfig is the TLS part of serveConfig.
type tlsConfig struct {
	cert string
	key  string
}

func (t *tlsConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.cert, "tls-cert", "", "PEM `file` of the certificate chain (leaf first): --addr serves HTTPS, WSS and TURN over TLS (turns:); reloaded on SIGHUP and when the file changes")
	fs.StringVar(&t.key, "tls-key", "", "PEM `file` of the private key of --tls-cert")
}

// validate checks the settings once flags and environment are in.
func (t *tlsConfig) validate() error {
	if (t.cert == "") != (t.key == "") {
		return errors.New("--tls-cert and --tls-key go together: give both (PEM files), or neither for plain HTTP")
	}
	return nil
}

// start loads the certificate and keeps it fresh until ctx ends: reloaded on SIGHUP and when its files
// change, the previous one kept if the new pair does not load. It returns the server's TLS configuration
// (HTTP/1.1 only: the WebSocket upgrade needs it), or nil when TLS is off.
func (t *tlsConfig) start(ctx context.Context, log *slog.Logger) (*tls.Config, error) {
	if t.cert == "" {
		return nil, nil
	}
	cert, err := tlscert.Load(t.cert, t.key, log)
	if err != nil {
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := cert.Reload(); err != nil {
					log.Error("SIGHUP: TLS certificate not reloaded, keeping the previous one", "err", err)
				}
			}
		}
	}()
	go cert.Watch(ctx, certPoll)
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cert.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}, nil
}
