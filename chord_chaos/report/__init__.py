"""What a failing run leaves for people and CI: report.json, report.html and JUnit XML."""
