"""Label Studio side: project setup, brief import, bulk prefill, the demo."""
