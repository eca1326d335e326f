-- Sample usage data for the demo: 60 days for five users, relative to today.
DROP TABLE IF EXISTS usage;
CREATE TABLE usage (day date NOT NULL, user_name text NOT NULL, requests int NOT NULL,
                    cost numeric(10, 2) NOT NULL);
INSERT INTO usage
SELECT current_date - d, 'user-' || u, 100 + (d * 37 + u * 11) % 400,
       round(((100 + (d * 37 + u * 11) % 400) * 0.012)::numeric, 2)
FROM generate_series(0, 59) AS d, generate_series(1, 5) AS u;
