"""What a user reads: status text, the cells table and exports, plots, the HTML report. Above `sweep.run`."""
