-- What each system does to be rid of the changed rows: heap's VACUUM, mergetree's merge
-- of every partition into one part (background merges would do it over time).
-- family: heap
VACUUM events;
-- family: mergetree
SELECT FROM mergetree.optimize('events', final => true);
