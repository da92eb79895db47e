"""The service's documents: the OpenAPI document generated from the route table
(`/docs/spec`) and the manual in docs/*.md rendered as HTML (`/docs/dev`)."""
