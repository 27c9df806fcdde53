# Answers the test guest's virtio-net ping on a TAP inside a test network namespace: waits for an Ethernet frame
# of ethertype 0x88B5 whose payload starts with "sharpvisor-ping", prints "ping from <source MAC>", and sends a
# frame back to that MAC with the payload "sharpvisor-pong from host". Reads through an AF_PACKET socket, since
# the VMM holds the TAP itself. usage: python3 pong.py IFNAME
import socket
import sys

ETHERTYPE = 0x88B5
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
sock.bind((sys.argv[1], ETHERTYPE))
sock.settimeout(120)
print("ready", flush=True)
while True:
    frame = sock.recv(65536)
    if len(frame) < 14 or frame[12:14] != b"\x88\xb5" or not frame[14:].startswith(b"sharpvisor-ping"):
        continue
    source = frame[6:12]
    print("ping from " + ":".join(f"{b:02x}" for b in source), flush=True)
    payload = b"sharpvisor-pong from host".ljust(46, b"\0")
    sock.send(source + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + payload)
    print("pong sent", flush=True)
    break
