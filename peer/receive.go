package peer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// IncomingTransfer is a transfer the other side proposes, delivered by [Conn.Transfers]. Accept or Decline it
// once; while it is unanswered the sender waits.
type IncomingTransfer struct {
	ID    string     // the sender's transfer id
	Files []FileInfo // as announced; the names are sanitized when the files are stored

	c          *Conn
	mu         sync.Mutex
	answered   bool
	accepted   bool
	fileCh     chan *channel
	canceled   chan struct{}
	reason     string
	cancelOnce sync.Once
}

// TotalSize returns the announced size of all files.
func (t *IncomingTransfer) TotalSize() int64 {
	var n int64
	for _, f := range t.Files {
		n += f.Size
	}
	return n
}

// Decline refuses the transfer; the sender's SendFiles returns [ErrDeclined].
func (t *IncomingTransfer) Decline() error {
	if !t.answer(false) {
		return errors.New("peer: transfer already answered")
	}
	t.c.forget(t.ID)
	return t.c.sendCtrl(&ctrlMsg{T: tDecline, TID: t.ID})
}

func (t *IncomingTransfer) answer(accept bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.answered {
		return false
	}
	t.answered, t.accepted = true, accept
	return true
}

func (t *IncomingTransfer) canceledBySender(reason string) {
	t.cancelOnce.Do(func() {
		t.reason = reason
		close(t.canceled)
	})
}

func (t *IncomingTransfer) gotChannel(ch *channel) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.accepted {
		return false
	}
	select {
	case t.fileCh <- ch:
		return true
	default:
		return false
	}
}

// Accept agrees to the transfer and stores the files in dir, returning their paths once every file has arrived
// with the announced size and SHA-256. Names are sanitized (base name only) and never overwrite: an existing
// "a.txt" makes it "a (1).txt". Each file is written to a hidden ".NAME.*.p2plobby-partial" in dir, synced and
// renamed only when verified; partial files are removed on failure. Errors: a *[TransferError] (a file failed;
// the sender is told), [ErrCanceled] (the sender canceled), [ErrInterrupted], [ErrProtocol], ctx's error (the
// sender is told to cancel). The paths of files already stored are returned with an error too.
// progress, if not nil, is called from Accept's goroutine after every chunk and after each stored file.
func (t *IncomingTransfer) Accept(ctx context.Context, dir string, progress func(Progress)) ([]string, error) {
	if !t.answer(true) {
		return nil, errors.New("peer: transfer already answered")
	}
	defer t.c.forget(t.ID)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.c.sendCtrl(&ctrlMsg{T: tDecline, TID: t.ID})
		if err == nil {
			err = fmt.Errorf("peer: %s is not a directory", dir)
		}
		return nil, err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	cancel := func(reason string) { t.c.sendCtrl(&ctrlMsg{T: tCancel, TID: t.ID, Reason: reason}) }
	if err := t.c.sendCtrl(&ctrlMsg{T: tAccept, TID: t.ID}); err != nil {
		return nil, t.c.interrupted(err)
	}
	var ch *channel
	select {
	case ch = <-t.fileCh:
	case <-t.canceled:
		return nil, canceledErr(t.reason)
	case <-t.c.s.done:
		return nil, t.c.interrupted(nil)
	case <-ctx.Done():
		cancel("canceled by the receiver")
		return nil, ctx.Err()
	}
	// The reader blocks in ReadDataChannel: closing the channel is how cancellation reaches it.
	finished := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-t.canceled:
		case <-t.c.s.done:
		case <-finished:
			return
		}
		ch.rwc.Close()
	}()
	r := &recvState{t: t, ctx: ctx, dir: dir, ch: ch, progress: progress, total: t.TotalSize()}
	paths, err := r.run()
	close(finished)
	ch.rwc.Close() // the receiver closes the file channel once every file is acknowledged
	if r.cancelReason != "" {
		cancel(r.cancelReason)
	}
	return paths, err
}

// recvState receives the files of one accepted transfer.
type recvState struct {
	t            *IncomingTransfer
	ctx          context.Context
	dir          string
	ch           *channel
	progress     func(Progress)
	total, got   int64
	cancelReason string // set when the sender must be told to cancel
}

func (r *recvState) run() (paths []string, err error) {
	files := r.t.Files
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = sanitizeName(f.Name)
	}
	var cur *partial
	defer func() {
		if cur != nil {
			cur.discard()
		}
	}()
	buf := make([]byte, maxChunk)
	for i := 0; i < len(files); {
		n, isString, err := r.ch.rwc.ReadDataChannel(buf)
		if err != nil {
			return paths, r.stopped(err)
		}
		f := files[i]
		if cur == nil {
			if cur, err = newPartial(r.dir, names[i]); err != nil {
				return paths, r.fail(i, failWrite, err.Error())
			}
		}
		if !isString {
			if cur.n+int64(n) > f.Size {
				return paths, r.fail(i, failSize, "more bytes than announced")
			}
			if err := cur.write(buf[:n]); err != nil {
				return paths, r.fail(i, failWrite, err.Error())
			}
			r.got += int64(n)
			r.progress(Progress{TID: r.t.ID, Index: i, Name: names[i], Bytes: cur.n, Size: f.Size, TotalBytes: r.got, TotalSize: r.total})
			continue
		}
		var m ctrlMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil || m.T != tEOF || m.Index == nil || *m.Index != i {
			r.cancelReason = "protocol error: expected eof of file " + fmt.Sprint(i)
			return paths, fmt.Errorf("%w: file channel: unexpected %q", ErrProtocol, buf[:min(n, 100)])
		}
		if cur.n != f.Size {
			return paths, r.fail(i, failSize, fmt.Sprintf("%d bytes instead of %d", cur.n, f.Size))
		}
		if sum := cur.sum(); !strings.EqualFold(sum, m.SHA256) {
			return paths, r.fail(i, failIntegrity, "sha256 "+sum+" instead of "+m.SHA256)
		}
		path, err := cur.commit(r.dir, names[i])
		cur = nil
		if err != nil {
			return paths, r.fail(i, failWrite, err.Error())
		}
		paths = append(paths, path)
		if err := r.t.c.sendCtrl(&ctrlMsg{T: tReceived, TID: r.t.ID, Index: intp(i)}); err != nil {
			return paths, r.t.c.interrupted(err)
		}
		r.progress(Progress{TID: r.t.ID, Index: i, Name: names[i], Bytes: f.Size, Size: f.Size, TotalBytes: r.got,
			TotalSize: r.total, Done: true, Path: path})
		i++
	}
	return paths, nil
}

// stopped explains why the file channel stopped delivering.
func (r *recvState) stopped(err error) error {
	select {
	case <-r.t.canceled:
		return canceledErr(r.t.reason)
	default:
	}
	if r.ctx.Err() != nil {
		r.cancelReason = "canceled by the receiver"
		return r.ctx.Err()
	}
	if errors.Is(err, io.ErrShortBuffer) {
		r.cancelReason = "protocol error: chunk larger than 256 KiB"
		return fmt.Errorf("%w: chunk larger than %d bytes", ErrProtocol, maxChunk)
	}
	return r.t.c.interrupted(err)
}

// fail reports file i as failed to the sender; the transfer is over.
func (r *recvState) fail(i int, code, msg string) error {
	r.t.c.sendCtrl(&ctrlMsg{T: tFailed, TID: r.t.ID, Index: intp(i), Code: code, Message: msg})
	return &TransferError{Index: i, Name: r.t.Files[i].Name, Code: code, Message: msg}
}

// partial is a file being received, under a hidden temporary name in the target directory.
type partial struct {
	f *os.File
	h hash.Hash
	n int64
}

// newPartial creates ".NAME.RANDOM.p2plobby-partial": hidden, plainly unfinished, and with the permissions of
// any new file (0666 less the umask; os.CreateTemp would give 0600, which the rename would keep).
func newPartial(dir, name string) (*partial, error) {
	for range 100 {
		path := filepath.Join(dir, "."+name+"."+newID(8)+".p2plobby-partial")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &partial{f: f, h: sha256.New()}, nil
	}
	return nil, fmt.Errorf("peer: cannot create a temporary file in %s", dir)
}

func (p *partial) write(b []byte) error {
	if _, err := p.f.Write(b); err != nil {
		return err
	}
	p.h.Write(b)
	p.n += int64(len(b))
	return nil
}

func (p *partial) sum() string { return hex.EncodeToString(p.h.Sum(nil)) }

// commit makes the verified file durable, then gives it its final, unused name.
func (p *partial) commit(dir, name string) (string, error) {
	tmp := p.f.Name()
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	path, err := placeUnique(tmp, dir, name)
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	syncDir(dir)
	return path, nil
}

func (p *partial) discard() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// proposed handles {"t":"files"}: a valid proposal goes to Transfers, an invalid one is declined.
func (c *Conn) proposed(m *ctrlMsg) {
	if !validTID(m.TID) {
		return
	}
	ok := len(m.Files) > 0
	for _, f := range m.Files {
		ok = ok && f.Size >= 0 && f.Name != ""
	}
	c.mu.Lock()
	_, dup := c.in[m.TID]
	c.mu.Unlock()
	if dup {
		return
	}
	if !ok {
		c.sendCtrl(&ctrlMsg{T: tDecline, TID: m.TID})
		return
	}
	t := &IncomingTransfer{ID: m.TID, Files: m.Files, c: c, fileCh: make(chan *channel, 1), canceled: make(chan struct{})}
	c.mu.Lock()
	c.in[m.TID] = t
	c.mu.Unlock()
	select {
	case c.transfers <- t:
	default:
		c.log.Warn("transfers not read; declining", "tid", m.TID)
		t.Decline()
	}
}

func (c *Conn) forget(tid string) {
	c.mu.Lock()
	delete(c.in, tid)
	c.mu.Unlock()
}

// validTID: 1–64 characters of [A-Za-z0-9_-] (docs/datachannel.md).
func validTID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
