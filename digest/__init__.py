"""The daily digest as a library: read the store, select, compose, render. No Prefect here."""
