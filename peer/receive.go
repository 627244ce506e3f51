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
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pion/datachannel"
)

// Default inactivity timeouts of an accepted transfer ([AcceptOptions]).
const (
	DefaultOpenTimeout = 30 * time.Second // from the accept until the sender opens the file channel
	DefaultIdleTimeout = 60 * time.Second // the longest silence of the file channel while files are expected
)

// AcceptOptions tunes [IncomingTransfer.AcceptWith]. The zero value is what [IncomingTransfer.Accept] does: no
// limits and the default timeouts.
//
// The library sets no size or count limit of its own: what is reasonable depends on the application (a backup
// tool and a chat differ by orders of magnitude), and the announced sizes are already a hard bound on what is
// written (a file that runs over its announced size fails). An application that accepts from strangers should
// set MaxSize and MaxFiles; the p2plobby command does (receive --max-size, --max-files).
type AcceptOptions struct {
	// Progress, if not nil, is called from AcceptWith's goroutine after every chunk and after each stored file.
	Progress func(Progress)

	// MaxSize, when > 0, is the most bytes the whole transfer may announce; MaxFiles, when > 0, the most files.
	// A transfer over either is declined before anything is written: the sender gets [ErrDeclined] and
	// AcceptWith an error wrapping [ErrLimitExceeded].
	MaxSize  int64
	MaxFiles int

	// OpenTimeout is how long the sender has, after the accept, to open the transfer's file channel; 0 means
	// [DefaultOpenTimeout]. IdleTimeout is how long the file channel may stay silent while files are expected;
	// 0 means [DefaultIdleTimeout]. Either one running out cancels the transfer for the sender, removes the
	// partial file and fails AcceptWith with [ErrInterrupted]. Time spent writing to disk does not count.
	OpenTimeout time.Duration
	IdleTimeout time.Duration
}

// IncomingTransfer is a transfer the other side proposes, delivered by [Conn.Transfers]. Accept or Decline it
// once; while it is unanswered the sender waits.
type IncomingTransfer struct {
	ID    string     // the sender's transfer id
	Files []FileInfo // as announced, but each Path already cleaned; the names are sanitized when the files are stored

	c          *Conn
	mu         sync.Mutex
	answered   bool
	accepted   bool
	finished   bool // Accept returned: a file channel arriving now is closed
	fileCh     chan *channel
	canceled   chan struct{}
	reason     string
	cancelOnce sync.Once
}

// TotalSize returns the announced size of all files. It saturates at [math.MaxInt64]: the other side chooses
// the sizes, and a sum that wrapped around to a small or negative number would pass any limit.
func (t *IncomingTransfer) TotalSize() int64 {
	var n int64
	for _, f := range t.Files {
		if f.Size > math.MaxInt64-n {
			return math.MaxInt64
		}
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
	if !t.accepted || t.finished {
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
// "a.txt" makes it "a (1).txt". A file with a Path (sent from a folder; already cleaned, see [FileInfo]) goes
// in that subdirectory of dir, created as needed, never outside dir: an existing directory of that name is
// used, anything else in the way (a file, a symbolic link) makes it "name (1)". Each file is written to a hidden ".NAME.*.p2plobby-partial" in dir, synced and
// renamed only when verified; partial files are removed on failure. Errors: a *[TransferError] (a file failed;
// the sender is told), [ErrCanceled] (the sender canceled), [ErrInterrupted] (the connection ended, or the
// sender went silent: see [AcceptOptions]), [ErrProtocol], ctx's error (the sender is told to cancel). The
// paths of files already stored are returned with an error too.
// progress, if not nil, is called from Accept's goroutine after every chunk and after each stored file.
// Accept sets no limits; [IncomingTransfer.AcceptWith] does.
func (t *IncomingTransfer) Accept(ctx context.Context, dir string, progress func(Progress)) ([]string, error) {
	return t.AcceptWith(ctx, dir, &AcceptOptions{Progress: progress})
}

// AcceptWith is [IncomingTransfer.Accept] with limits and timeouts; opts may be nil. A transfer over
// opts.MaxSize or opts.MaxFiles is declined instead, and the error wraps [ErrLimitExceeded].
func (t *IncomingTransfer) AcceptWith(ctx context.Context, dir string, opts *AcceptOptions) ([]string, error) {
	var o AcceptOptions
	if opts != nil {
		o = *opts
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if err := t.overLimits(o.MaxSize, o.MaxFiles); err != nil {
		if !t.answer(false) {
			return nil, errors.New("peer: transfer already answered")
		}
		t.c.forget(t.ID)
		t.c.sendCtrl(&ctrlMsg{T: tDecline, TID: t.ID})
		return nil, err
	}
	if !t.answer(true) {
		return nil, errors.New("peer: transfer already answered")
	}
	defer t.finish()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.c.sendCtrl(&ctrlMsg{T: tDecline, TID: t.ID})
		if err == nil {
			err = fmt.Errorf("peer: %s is not a directory", dir)
		}
		return nil, err
	}
	progress := o.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	cancel := func(reason string) { t.c.sendCtrl(&ctrlMsg{T: tCancel, TID: t.ID, Reason: reason}) }
	if err := t.c.sendCtrl(&ctrlMsg{T: tAccept, TID: t.ID}); err != nil {
		return nil, t.c.interrupted(err)
	}
	var ch *channel
	opening := time.NewTimer(o.OpenTimeout)
	defer opening.Stop()
	select {
	case ch = <-t.fileCh:
	case <-t.canceled:
		return nil, canceledErr(t.reason)
	case <-t.c.s.done:
		return nil, t.c.interrupted(nil)
	case <-ctx.Done():
		cancel("canceled by the receiver")
		return nil, ctx.Err()
	case <-opening.C:
		cancel(fmt.Sprintf("timed out: no file channel within %s of the accept", o.OpenTimeout))
		return nil, fmt.Errorf("%w: the sender did not open the file channel within %s", ErrInterrupted, o.OpenTimeout)
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
	r := &recvState{t: t, ctx: ctx, dir: dir, ch: ch, progress: progress, total: t.TotalSize(), idle: o.IdleTimeout}
	paths, err := r.run()
	close(finished)
	ch.rwc.Close() // the receiver closes the file channel once every file is acknowledged
	if r.cancelReason != "" {
		cancel(r.cancelReason)
	}
	return paths, err
}

// overLimits returns an error wrapping ErrLimitExceeded when the transfer announces more than maxSize bytes or
// maxFiles files (each ignored when ≤ 0).
func (t *IncomingTransfer) overLimits(maxSize int64, maxFiles int) error {
	if maxFiles > 0 && len(t.Files) > maxFiles {
		return fmt.Errorf("%w: %d files, more than the limit of %d", ErrLimitExceeded, len(t.Files), maxFiles)
	}
	if maxSize > 0 && t.TotalSize() > maxSize {
		return fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrLimitExceeded, t.TotalSize(), maxSize)
	}
	return nil
}

// finish ends an accepted transfer: it is forgotten, and a file channel the sender opened too late is closed.
func (t *IncomingTransfer) finish() {
	t.c.forget(t.ID)
	t.mu.Lock()
	t.finished = true
	t.mu.Unlock()
	select {
	case ch := <-t.fileCh:
		ch.rwc.Close()
	default:
	}
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

	idle     time.Duration // the longest wait for the next message
	deadline time.Time     // the file channel's read deadline, refreshed before reads

	dirs    map[string]string // a file's cleaned Path → the directory it is stored in
	created []string          // directories this transfer created, removed again if they stay empty
}

// dirFor returns the directory where a file with the cleaned path rel goes: rel under r.dir, each component an
// existing directory or created (see subdir). The path was cleaned (sanitizePath), so it cannot leave r.dir;
// and a symbolic link in the way is never followed, it only makes the component "name (1)".
func (r *recvState) dirFor(rel string) (string, error) {
	if rel == "" {
		return r.dir, nil
	}
	if d, ok := r.dirs[rel]; ok {
		return d, nil
	}
	if r.dirs == nil {
		r.dirs = map[string]string{}
	}
	parent, walked := r.dir, ""
	for _, c := range strings.Split(rel, "/") {
		if walked == "" {
			walked = c
		} else {
			walked += "/" + c
		}
		if d, ok := r.dirs[walked]; ok {
			parent = d
			continue
		}
		d, created, err := subdir(parent, c)
		if err != nil {
			return "", err
		}
		if created {
			r.created = append(r.created, d)
		}
		r.dirs[walked] = d
		parent = d
	}
	return parent, nil
}

// removeEmptyDirs removes the directories this transfer created that hold nothing (after a failure), deepest first.
func (r *recvState) removeEmptyDirs() {
	for i := len(r.created) - 1; i >= 0; i-- {
		os.Remove(r.created[i]) // fails, harmlessly, on a directory that is not empty
	}
}

// refreshDeadline moves the read deadline to idle from now. Setting it costs a timer and a goroutine in pion, so
// it is moved only once a sixteenth of idle has passed: the timeout then fires after between 15/16 and all of
// idle without data, and only time spent waiting for the network counts, never time spent writing to disk.
func (r *recvState) refreshDeadline() {
	d, ok := r.ch.rwc.(datachannel.ReadDeadliner)
	if !ok {
		return
	}
	now := time.Now()
	if !r.deadline.IsZero() && r.deadline.Sub(now) > r.idle-r.idle/16 {
		return
	}
	r.deadline = now.Add(r.idle)
	d.SetReadDeadline(r.deadline)
}

func (r *recvState) run() (paths []string, err error) {
	files := r.t.Files
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = sanitizeName(f.Name)
	}
	var cur *partial
	var curDir string
	defer func() {
		if cur != nil {
			cur.discard()
		}
		if err != nil {
			r.removeEmptyDirs()
		}
	}()
	buf := make([]byte, maxChunk)
	for i := 0; i < len(files); {
		r.refreshDeadline()
		n, isString, err := r.ch.rwc.ReadDataChannel(buf)
		if err != nil {
			return paths, r.stopped(err)
		}
		f := files[i]
		if cur == nil {
			if curDir, err = r.dirFor(f.Path); err != nil {
				return paths, r.fail(i, failWrite, err.Error())
			}
			if cur, err = newPartial(curDir, names[i]); err != nil {
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
		path, err := cur.commit(curDir, names[i])
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
	if errors.Is(err, io.EOF) {
		// A sender that cancels closes the file channel too, and the two streams race: its cancel, on the
		// control channel, may arrive just after the end of this one. Give it a moment to tell why.
		grace := time.NewTimer(cancelGrace)
		defer grace.Stop()
		select {
		case <-r.t.canceled:
			return canceledErr(r.t.reason)
		case <-r.t.c.s.done:
		case <-grace.C:
		}
	}
	if r.ctx.Err() != nil {
		r.cancelReason = "canceled by the receiver"
		return r.ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		select {
		case <-r.t.c.s.done:
			return r.t.c.interrupted(nil)
		default:
		}
		r.cancelReason = fmt.Sprintf("timed out: no data for %s", r.idle)
		return fmt.Errorf("%w: no data from the sender for %s", ErrInterrupted, r.idle)
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
// cancelGrace is how long a receiver whose file channel ended waits for the sender's cancel to say why.
const cancelGrace = 500 * time.Millisecond

// MaxOfferFiles is the most files one offer may list; larger offers are declined as they arrive (the browser
// SDK has the same limit).
const MaxOfferFiles = 1000

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
		c.sendCtrl(&ctrlMsg{T: tDecline, TID: m.TID, Reason: "malformed offer"})
		return
	}
	if len(m.Files) > MaxOfferFiles {
		c.sendCtrl(&ctrlMsg{T: tDecline, TID: m.TID, Reason: fmt.Sprintf("more than %d files in one offer", MaxOfferFiles)})
		return
	}
	for i := range m.Files {
		m.Files[i].Path = sanitizePath(m.Files[i].Path) // the other side's choice: cleaned before anyone sees it
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
