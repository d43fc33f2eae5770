"""Server-rendered pages, one module per audience. Views are thin: they fetch through the
backend's selectors, write through its services, and render."""
