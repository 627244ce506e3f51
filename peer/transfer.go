package peer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// FileInfo describes one file of a transfer, as announced in {"t":"files"}.
type FileInfo struct {
	Name string `json:"name"` // base name; receivers sanitize it anyway
	Size int64  `json:"size"` // bytes
	Type string `json:"type"` // MIME type; may be empty
	// Path is the file's directory inside the folder it was sent from ("photos/2024", "/"-separated, no leading
	// "/"; "" for the top level): see docs/datachannel.md, "Folders". A receiver stores the file under it, inside
	// its download directory, after cleaning it (each component like a file name, at most 8 components);
	// [IncomingTransfer] Files carry the cleaned path, and SendFiles announces the cleaned path.
	Path string `json:"path,omitempty"`
}

// FileSource is a file to send. Open is called when the file's turn comes and must yield exactly Size bytes.
type FileSource struct {
	FileInfo
	Open func() (io.ReadCloser, error)
}

// FileFromPath describes the regular file at path, named by its base name, typed by its extension.
func FileFromPath(path string) (FileSource, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileSource{}, err
	}
	if !fi.Mode().IsRegular() {
		return FileSource{}, fmt.Errorf("peer: %s is not a regular file", path)
	}
	return FileSource{
		FileInfo: FileInfo{Name: filepath.Base(path), Size: fi.Size(), Type: mime.TypeByExtension(filepath.Ext(path))},
		Open:     func() (io.ReadCloser, error) { return os.Open(path) },
	}, nil
}

// FilesFromDir describes every regular file under root, in lexical order, each with its [FileInfo].Path: the
// directory it is in relative to root's parent, so root's own name comes first ("photos", "photos/2024"), as
// browsers do for a picked folder. Symbolic links and other special files are skipped, and so are directories
// deeper than a receiver keeps (8 levels, root included), whose files would be put one level up.
func FilesFromDir(root string) ([]FileSource, error) {
	root = filepath.Clean(root)
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("peer: %s is not a directory", root)
	}
	base := filepath.Base(root)
	var files []FileSource
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Join(base, rel))
		if d.IsDir() {
			if strings.Count(dir, "/")+1 > maxPathComponents {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, FileSource{
			FileInfo: FileInfo{Name: d.Name(), Size: info.Size(), Type: mime.TypeByExtension(filepath.Ext(p)),
				Path: path.Dir(dir)},
			Open: func() (io.ReadCloser, error) { return os.Open(p) },
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// Progress reports a running transfer, on either side.
type Progress struct {
	TID        string // the transfer's id
	Index      int    // the file concerned
	Name       string // its name (as announced; sanitized on the receiving side)
	Bytes      int64  // bytes of this file sent (written into the channel's buffer) or received
	Size       int64  // this file's size
	TotalBytes int64  // bytes of the whole transfer so far
	TotalSize  int64  // size of the whole transfer
	Done       bool   // the file is complete: verified by the receiver (sender) or stored (receiver)
	Path       string // receiver only, when Done: where the file was stored
}

// outgoing is a transfer this side proposed; the control reader delivers the receiver's answers to it.
type outgoing struct {
	ev chan *ctrlMsg
}

func (o *outgoing) deliver(m *ctrlMsg) {
	select {
	case o.ev <- m:
	default: // a misbehaving receiver; the transfer's own messages always fit
	}
}

// SendFiles proposes the files as one transfer and, once the other side accepts, streams them over a new
// file:<tid> channel, in constant memory, paced by the channel's buffered amount. It returns nil when the
// receiver has confirmed every file's SHA-256. Errors: [ErrDeclined]; [ErrCanceled] (the receiver canceled);
// a *[TransferError] (the receiver failed a file; wraps [ErrIntegrity] or [ErrTransferFailed]); [ErrInterrupted]
// (the connection ended); ctx's error (the transfer is then canceled for the other side too).
// progress, if not nil, is called from SendFiles' goroutine after every chunk and when a file is confirmed.
func (c *Conn) SendFiles(ctx context.Context, files []FileSource, progress func(Progress)) error {
	if len(files) == 0 {
		return errors.New("peer: no files to send")
	}
	infos := make([]FileInfo, len(files))
	var total int64
	for i, f := range files {
		if f.Name == "" || f.Size < 0 || f.Open == nil {
			return fmt.Errorf("peer: file %d: a name, a size ≥ 0 and Open are required", i)
		}
		infos[i] = f.FileInfo
		infos[i].Path = sanitizePath(f.Path)
		total += f.Size
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	tid := newID(16)
	out := &outgoing{ev: make(chan *ctrlMsg, len(files)+8)}
	c.mu.Lock()
	c.out[tid] = out
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.out, tid)
		c.mu.Unlock()
	}()

	if err := c.sendCtrl(&ctrlMsg{T: tFiles, TID: tid, Files: infos}); err != nil {
		return c.interrupted(err)
	}
	cancel := func(reason string) { c.sendCtrl(&ctrlMsg{T: tCancel, TID: tid, Reason: reason}) }

	// Wait for the answer.
	for answered := false; !answered; {
		select {
		case m := <-out.ev:
			switch m.T {
			case tAccept:
				answered = true
			case tDecline:
				if m.Reason != "" { // e.g. a limit of the receiver's; the other side's words, shown as they are
					return fmt.Errorf("%w: %s", ErrDeclined, truncateUTF8(m.Reason, 200))
				}
				return ErrDeclined
			case tCancel:
				return canceledErr(m.Reason)
			}
		case <-c.s.done:
			return c.interrupted(nil)
		case <-ctx.Done():
			cancel("canceled by the sender")
			return ctx.Err()
		}
	}

	ch, err := c.openFileChannel(ctx, tid)
	if err != nil {
		cancel("could not open the file channel")
		return err
	}
	defer ch.rwc.Close()
	low := make(chan struct{}, 1)
	ch.dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})

	st := &sendState{c: c, ctx: ctx, tid: tid, files: files, out: out, ch: ch, low: low, win: newSendWindow(),
		total: total, progress: progress}
	defer func() {
		c.log.Debug("send window", "tid", tid, "window", st.win.win, "min_rtt", st.win.minRTT, "waits", st.waits)
	}()
	buf := make([]byte, c.chunkSize())
	for i, f := range files {
		if err := st.sendFile(i, f, buf); err != nil {
			if st.cancelReason != "" {
				cancel(st.cancelReason)
			}
			return err
		}
	}
	// Everything is in the channel; wait for the receiver's verdicts.
	early := st.early
	st.early = nil
	for _, m := range early {
		if err := st.verdict(m); err != nil {
			return err
		}
	}
	for st.confirmed < len(files) {
		select {
		case m := <-out.ev:
			if err := st.verdict(m); err != nil {
				return err
			}
		case <-c.s.done:
			// The last verdicts may be queued right before a bye: the control reader delivers in order.
			for st.confirmed < len(files) {
				select {
				case m := <-out.ev:
					if err := st.verdict(m); err != nil {
						return err
					}
					continue
				default:
				}
				return c.interrupted(nil)
			}
		case <-ctx.Done():
			cancel("canceled by the sender")
			return ctx.Err()
		}
	}
	return nil
}

// interrupted explains why a transfer stopped because the connection ended.
func (c *Conn) interrupted(err error) error {
	if cerr := c.Err(); cerr != nil {
		err = cerr
	}
	if err == nil {
		return ErrInterrupted
	}
	return fmt.Errorf("%w: %w", ErrInterrupted, err)
}

func canceledErr(reason string) error {
	if reason == "" {
		return ErrCanceled
	}
	return fmt.Errorf("%w: %s", ErrCanceled, reason)
}

func (c *Conn) openFileChannel(ctx context.Context, tid string) (*channel, error) {
	dc, err := c.pc.CreateDataChannel(fileLabelPrefix+tid, nil) // ordered, reliable
	if err != nil {
		return nil, c.interrupted(err)
	}
	opened := make(chan *channel, 1)
	dc.OnOpen(func() {
		rwc, err := dc.Detach()
		if err != nil {
			dc.Close()
			return
		}
		opened <- &channel{dc, rwc}
	})
	select {
	case ch := <-opened:
		return ch, nil
	case <-c.s.done:
		return nil, c.interrupted(nil)
	case <-ctx.Done():
		dc.Close()
		return nil, ctx.Err()
	}
}

// sendState streams the files of one accepted transfer.
type sendState struct {
	c            *Conn
	ctx          context.Context
	tid          string
	files        []FileSource
	out          *outgoing
	ch           *channel
	low          chan struct{}
	win          *sendWindow
	threshold    int    // the data channel's buffered-amount-low threshold
	written      uint64 // bytes written to the channel: what SCTP has delivered is this less its buffered amount
	waits        int    // times pace waited for the window
	pacer        *time.Timer
	total, sent  int64
	progress     func(Progress)
	cancelReason string     // set when the other side must be told to cancel
	early        []*ctrlMsg // verdicts that arrived while files were still being sent
	confirmed    int
	acked        []bool
}

func (st *sendState) sendFile(i int, f FileSource, buf []byte) error {
	r, err := f.Open()
	if err != nil {
		st.cancelReason = "could not read " + f.Name
		return fmt.Errorf("%w: %s: %w", ErrTransferFailed, f.Name, err)
	}
	defer r.Close()
	h := sha256.New()
	var n int64
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			if n+int64(k) > f.Size {
				st.cancelReason = f.Name + " changed while being sent"
				return fmt.Errorf("%w: %s grew while being sent", ErrTransferFailed, f.Name)
			}
			h.Write(buf[:k])
			if err := st.pace(k); err != nil {
				return err
			}
			if _, err := st.ch.rwc.Write(buf[:k]); err != nil {
				return st.c.interrupted(err)
			}
			st.written += uint64(k)
			n += int64(k)
			st.sent += int64(k)
			st.progress(Progress{TID: st.tid, Index: i, Name: f.Name, Bytes: n, Size: f.Size, TotalBytes: st.sent, TotalSize: st.total})
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			st.cancelReason = "could not read " + f.Name
			return fmt.Errorf("%w: reading %s: %w", ErrTransferFailed, f.Name, rerr)
		}
	}
	if n != f.Size {
		st.cancelReason = f.Name + " changed while being sent"
		return fmt.Errorf("%w: %s shrank while being sent", ErrTransferFailed, f.Name)
	}
	b, err := json.Marshal(&ctrlMsg{T: tEOF, Index: intp(i), SHA256: hex.EncodeToString(h.Sum(nil))})
	if err != nil {
		return err
	}
	if _, err := st.ch.rwc.WriteDataChannel(b, true); err != nil {
		return st.c.interrupted(err)
	}
	st.written += uint64(len(b))
	if f.Size == 0 {
		st.progress(Progress{TID: st.tid, Index: i, Name: f.Name, TotalBytes: st.sent, TotalSize: st.total})
	}
	return nil
}

// pace waits until k more bytes fit in the send window and the pacing rate allows them (sendWindow); it also
// notices an early cancel or failure, and the end of ctx.
func (st *sendState) pace(k int) error {
	for {
		buffered := st.ch.dc.BufferedAmount()
		var srtt time.Duration
		if sctp := st.c.pc.SCTP(); sctp != nil {
			srtt = time.Duration(sctp.Stats().SmoothedRoundTripTime * float64(time.Second))
		}
		win := st.win.update(time.Now(), st.written-buffered, srtt)
		if buffered+uint64(k) <= uint64(win) {
			break
		}
		// Woken when the buffered amount falls to where k fits. The threshold is set before the amount is read
		// again, so a fall between the two still wakes us.
		if thr := win - k; thr != st.threshold {
			st.ch.dc.SetBufferedAmountLowThreshold(uint64(thr))
			st.threshold = thr
		}
		if st.ch.dc.BufferedAmount()+uint64(k) <= uint64(win) {
			break
		}
		st.waits++
		if err := await(st, st.low); err != nil {
			return err
		}
	}
	for {
		d := st.win.wait(time.Now(), k)
		if d <= 0 {
			break
		}
		if st.pacer == nil {
			st.pacer = time.NewTimer(d)
		} else {
			st.pacer.Reset(d) // since Go 1.23 a Reset timer never delivers a stale tick
		}
		if err := await(st, st.pacer.C); err != nil {
			return err
		}
	}
	select {
	case m := <-st.out.ev:
		return st.whileSending(m)
	case <-st.ctx.Done():
		// Checked on every chunk, not only while waiting for the buffer to drain: towards a fast receiver the
		// buffer never fills, and the whole file would go out after ctx ended.
		st.cancelReason = "canceled by the sender"
		return st.ctx.Err()
	default:
		return nil
	}
}

// await waits for wake while files are being sent, handling what may arrive meanwhile: a message from the
// receiver, the end of the session, the end of ctx.
func await[T any](st *sendState, wake <-chan T) error {
	select {
	case <-wake:
		return nil
	case m := <-st.out.ev:
		return st.whileSending(m)
	case <-st.c.s.done:
		return st.c.interrupted(nil)
	case <-st.ctx.Done():
		st.cancelReason = "canceled by the sender"
		return st.ctx.Err()
	}
}

// whileSending handles a message that arrives while files are still being sent: a cancel or failure ends the
// transfer; a "received" is kept for later.
func (st *sendState) whileSending(m *ctrlMsg) error {
	switch m.T {
	case tCancel, tFailed:
		return st.verdict(m)
	case tReceived:
		st.early = append(st.early, m)
	}
	return nil
}

// verdict processes the receiver's answer about a file.
func (st *sendState) verdict(m *ctrlMsg) error {
	switch m.T {
	case tCancel:
		return canceledErr(m.Reason)
	case tFailed:
		te := &TransferError{Code: m.Code, Message: m.Message, Index: -1}
		if m.Index != nil {
			te.Index = *m.Index
			if te.Index >= 0 && te.Index < len(st.files) {
				te.Name = st.files[te.Index].Name
			}
		}
		return te
	case tReceived:
		if m.Index == nil || *m.Index < 0 || *m.Index >= len(st.files) {
			return nil
		}
		if st.acked == nil {
			st.acked = make([]bool, len(st.files))
		}
		if st.acked[*m.Index] {
			return nil
		}
		st.acked[*m.Index] = true
		f := st.files[*m.Index]
		st.confirmed++
		st.progress(Progress{TID: st.tid, Index: *m.Index, Name: f.Name, Bytes: f.Size, Size: f.Size,
			TotalBytes: st.sent, TotalSize: st.total, Done: true})
	}
	return nil
}
