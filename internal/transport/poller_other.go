//go:build !linux

package transport

import "errors"

// poller is Linux-only (epoll); elsewhere every connection keeps a reader goroutine.
type poller struct{}

func newPoller() (*poller, error)     { return nil, errors.ErrUnsupported }
func (p *poller) add(c *conn) error   { return errors.ErrUnsupported }
func (p *poller) rearm(c *conn) error { return errors.ErrUnsupported }
func (p *poller) remove(c *conn)      {}
func (p *poller) stop()               {}
