"""What the server-rendered pages (the shopper's portal, the operations console) share."""
