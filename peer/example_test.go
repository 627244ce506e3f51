package peer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/p2plobby/p2plobby/peer"
)

// Send a file to the member named "bob", in the browser or another Go peer, and say hello.
func Example() {
	ctx := context.Background()
	c, err := peer.Dial(ctx, "ws://localhost:3333", &peer.Options{Room: "demo", Name: "script"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	bob, err := c.WaitMember(wait, func(m peer.Member) bool { return m.Name == "bob" })
	if err != nil {
		log.Fatal(err)
	}
	conn, err := c.Request(ctx, bob.ID) // bob must accept
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println("verification code:", conn.VerificationCode())

	if err := conn.SendChat("hello from Go"); err != nil {
		log.Fatal(err)
	}
	f, err := peer.FileFromPath("report.pdf")
	if err != nil {
		log.Fatal(err)
	}
	err = conn.SendFiles(ctx, []peer.FileSource{f}, func(p peer.Progress) {
		if p.Done {
			fmt.Printf("%s arrived intact\n", p.Name)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Accept every request and every file into ./inbox, printing chat messages.
func ExampleClient_Events() {
	ctx := context.Background()
	c, err := peer.Dial(ctx, "ws://localhost:3333", &peer.Options{Room: "demo", Name: "inbox"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for ev := range c.Events() {
		if ev.Kind != peer.IncomingRequest {
			continue
		}
		conn, err := ev.Request.Accept(ctx)
		if err != nil {
			log.Print(err)
			continue
		}
		go func() {
			defer conn.Close()
			for {
				select {
				case m, ok := <-conn.Chat():
					if !ok {
						return
					}
					fmt.Printf("%s: %s\n", conn.Peer().Name, m.Text)
				case t, ok := <-conn.Transfers():
					if !ok {
						return
					}
					paths, err := t.Accept(ctx, "inbox", nil)
					fmt.Println(paths, err)
				}
			}
		}()
	}
}
